//! The ordered queue that tears endpoints down off the callers' reply paths: one thread per
//! service runs the jobs in the order they were queued.
//!
//! The queue's thread holds the work function (which holds what it needs of the service);
//! the service holds the [`Queue`]. Dropping the queue closes it: its thread finishes what is
//! queued and ends.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};

use super::Endpoint;

/// The work a queued teardown does.
pub type Work = Box<dyn Fn(&Endpoint) + Send + 'static>;

#[derive(Default)]
struct State {
    jobs: VecDeque<Endpoint>,
    /// Per endpoint ID, how many of its teardowns are queued or running.
    pending: HashMap<String, usize>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued, when one finishes, and at close.
    changed: Condvar,
}

/// The queue: `push` returns at once; `wait_for` and `settle` block.
pub struct Queue {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queued = self.lock().jobs.len();
        f.debug_struct("Queue").field("queued", &queued).finish()
    }
}

impl Queue {
    /// Starts the queue's thread, which runs `work` for each endpoint pushed.
    pub fn start(work: Work) -> std::io::Result<Queue> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("net-teardown".into())
            .spawn(move || run(&worker, &work))?;
        Ok(Queue {
            shared,
            thread: Some(thread),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues the teardown of `e`.
    pub fn push(&self, e: &Endpoint) {
        let mut state = self.lock();
        *state.pending.entry(e.id.clone()).or_default() += 1;
        state.jobs.push_back(e.clone());
        self.shared.changed.notify_all();
    }

    /// Blocks while a teardown of endpoint `id` is queued or running.
    pub fn wait_for(&self, id: &str) {
        let mut state = self.lock();
        while state.pending.contains_key(id) {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Blocks until nothing is queued or running.
    pub fn settle(&self) {
        let mut state = self.lock();
        while !state.pending.is_empty() {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.lock().closed = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// The queue's thread: one job at a time, in order, until closed and empty.
fn run(shared: &Shared, work: &Work) {
    let lock = || {
        shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    loop {
        let job = {
            let mut state = lock();
            loop {
                if let Some(job) = state.jobs.pop_front() {
                    break job;
                }
                if state.closed {
                    return;
                }
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        // A panicking job must not stop the queue (nor leave its waiters blocked).
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&job))).ok();
        let mut state = lock();
        if let Some(n) = state.pending.get_mut(&job.id) {
            *n -= 1;
            if *n == 0 {
                state.pending.remove(&job.id);
            }
        }
        shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::network::BridgeAddress;
    use std::time::Duration;

    fn endpoint(id: &str) -> Endpoint {
        Endpoint {
            id: id.into(),
            address: BridgeAddress {
                network: "podman".into(),
                ip: std::net::Ipv4Addr::new(10, 88, 0, 2),
                prefix: 16,
                gateway: std::net::Ipv4Addr::new(10, 88, 0, 1),
                mac: String::new(),
                ports: Vec::new(),
            },
        }
    }

    #[test]
    fn runs_in_order_and_waits() {
        let done = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&done);
        let queue = Queue::start(Box::new(move |e: &Endpoint| {
            std::thread::sleep(Duration::from_millis(20));
            seen.lock().unwrap().push(e.id.clone());
        }))
        .unwrap();
        for id in ["a", "b", "c"] {
            queue.push(&endpoint(id));
        }
        queue.wait_for("b");
        assert!(
            done.lock()
                .unwrap()
                .starts_with(&["a".to_string(), "b".to_string()])
        );
        queue.settle();
        assert_eq!(*done.lock().unwrap(), ["a", "b", "c"]);
        queue.push(&endpoint("d"));
        drop(queue);
        assert_eq!(
            done.lock().unwrap().len(),
            4,
            "drop finishes what is queued"
        );
    }
}
