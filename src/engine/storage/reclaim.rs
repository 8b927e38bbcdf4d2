//! Deleting trees, and other work nothing waits for, off the callers' reply paths.
//!
//! Removing a container ends with deleting its directories, which costs more than the rest
//! of the removal together (measured: 1.2 ms for the storage directory of a container that
//! ran `true`, up to several ms for its run directory, an unlink on ext4 at a time), and
//! nothing the client sees waits for it: the record is gone, and so are its name, ID and
//! mounts, before the call returns. A [`Reclaimer`] takes such trees and deletes them on a
//! thread of its own, in order. A service killed with trees still queued leaves directories
//! without a record, which the next start removes (`ContainerStore::load`); one stopped in an
//! orderly way finishes the queue first (`Drop`). Other work of that kind (unmounting an
//! exited container's root filesystem, which syncs the whole filesystem under it) goes
//! through a queue of its own the same way ([`Reclaimer::push_job`]).

use std::path::PathBuf;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex};

/// Work for the queue's thread.
pub type Job = Box<dyn FnOnce() + Send>;

/// The queue of trees to delete (and other jobs), and the thread running them.
pub struct Reclaimer {
    sender: Mutex<Option<Sender<Job>>>,
    /// How many trees are queued or being deleted, and a signal when that changes.
    pending: Arc<(Mutex<usize>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Reclaimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reclaimer")
            .field("pending", &*self.count())
            .finish()
    }
}

impl Default for Reclaimer {
    fn default() -> Self {
        Reclaimer::start()
    }
}

impl Reclaimer {
    /// Starts the deleting thread. Without one (the thread could not start), trees are
    /// deleted by whoever queues them, as before there was a queue.
    pub fn start() -> Reclaimer {
        let pending = Arc::new((Mutex::new(0usize), Condvar::new()));
        let (sender, receiver) = channel::<Job>();
        let counter = Arc::clone(&pending);
        let thread = std::thread::Builder::new()
            .name("reclaim".into())
            .spawn(move || {
                for job in receiver {
                    // A job that panics is logged by the panic hook; the queue goes on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    let (count, changed) = &*counter;
                    *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
                    changed.notify_all();
                }
            });
        let (sender, thread) = match thread {
            Ok(thread) => (Some(sender), Some(thread)),
            Err(e) => {
                log::warn!("no thread to delete removed containers' files ({e}): callers do");
                (None, None)
            }
        };
        Reclaimer {
            sender: Mutex::new(sender),
            pending,
            thread,
        }
    }

    fn count(&self) -> std::sync::MutexGuard<'_, usize> {
        self.pending.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `tree` for deletion (deleted here if there is no thread to take it). A failure
    /// is logged: the caller has answered by then.
    pub fn push(&self, tree: PathBuf) {
        self.push_job(Box::new(move || delete(&tree)));
    }

    /// Queues `job` (run here if there is no thread to take it); it logs its own failures.
    pub fn push_job(&self, job: Job) {
        let refused = {
            let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner());
            match sender.as_ref() {
                Some(sender) => {
                    *self.count() += 1;
                    sender.send(job).err().map(|returned| {
                        *self.count() -= 1;
                        returned.0
                    })
                }
                None => Some(job),
            }
        };
        if let Some(job) = refused {
            job();
        }
    }

    /// Blocks until every tree queued so far is deleted.
    pub fn settle(&self) {
        let mut count = self.count();
        while *count > 0 {
            count = self
                .pending
                .1
                .wait(count)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Reclaimer {
    /// Finishes the queue: closing the channel ends the thread's loop once it is empty.
    fn drop(&mut self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

fn delete(tree: &std::path::Path) {
    if let Err(e) = super::remove_tree(tree) {
        log::warn!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_trees_are_deleted_in_the_background_and_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let trees: Vec<PathBuf> = (0..20).map(|i| dir.path().join(format!("t{i}"))).collect();
        for tree in &trees {
            std::fs::create_dir_all(tree.join("a/b")).unwrap();
            std::fs::write(tree.join("a/b/f"), "x").unwrap();
        }
        let reclaimer = Reclaimer::start();
        for tree in &trees[..10] {
            reclaimer.push(tree.clone());
        }
        reclaimer.settle();
        assert!(trees[..10].iter().all(|t| !t.exists()));
        for tree in &trees[10..] {
            reclaimer.push(tree.clone());
        }
        drop(reclaimer);
        assert!(trees.iter().all(|t| !t.exists()));
        // A tree that is gone already is no error.
        Reclaimer::start().push(dir.path().join("never-there"));
    }
}
