//! Security options: `security_opts` and the separate fields (seccomp, AppArmor, SELinux
//! labels, no-new-privileges), together.

use std::path::Path;

use super::options::{CreateOptions, invalid, invalid_as};
use crate::engine::container::config::ContainerConfig;
use crate::engine::container::service::Containers;
use crate::engine::error::Result;
use crate::engine::runtime::seccomp::Seccomp;

impl Containers {
    /// Security options: the `security_opts` strings and the separate fields, together.
    pub(super) fn security(&self, o: &CreateOptions, c: &mut ContainerConfig) -> Result<()> {
        c.no_new_privileges = o.no_new_privs;
        let mut seccomp = o.seccomp_profile_path.clone();
        let mut apparmor = o.apparmor_profile.clone();
        // The field each came in, for an error: the last one given wins.
        let mut seccomp_field = "create.seccomp_profile_path";
        let mut apparmor_field = "create.apparmor_profile";
        for opt in &o.security_opts {
            let (key, value) = match opt.split_once(['=', ':']) {
                Some((k, v)) => (k, v),
                None => (opt.as_str(), ""),
            };
            match (key, value) {
                ("no-new-privileges", "" | "true") => c.no_new_privileges = true,
                ("no-new-privileges", "false") => c.no_new_privileges = false,
                ("seccomp", v) if !v.is_empty() => {
                    seccomp = v.to_string();
                    seccomp_field = "create.security_opts";
                }
                ("apparmor", v) if !v.is_empty() => {
                    apparmor = v.to_string();
                    apparmor_field = "create.security_opts";
                }
                // SELinux is not enabled here: disabling labels is what happens anyway.
                ("label", "disable") => {}
                ("label", _) => {
                    return Err(invalid(
                        "create.security_opts",
                        format!("{opt:?}: SELinux labels are not supported by podlink"),
                    ));
                }
                _ => {
                    return Err(invalid(
                        "create.security_opts",
                        format!(
                            "{opt:?}: use no-new-privileges, seccomp=unconfined|PATH, \
                             apparmor=unconfined|PROFILE or label=disable"
                        ),
                    ));
                }
            }
        }
        for (field, value) in [
            ("create.mount_label", &o.mount_label),
            ("create.process_label", &o.process_label),
        ] {
            if !value.is_empty() {
                return Err(invalid(
                    field,
                    "SELinux labels are not supported by podlink",
                ));
            }
        }
        c.seccomp = if o.privileged {
            "unconfined".into()
        } else {
            let choice = Seccomp::choose(&seccomp);
            if let Seccomp::Profile(_) = choice {
                // Read now, so a broken profile fails the create, not a later start.
                choice
                    .filter(&c.capabilities)
                    .map_err(|e| invalid_as(seccomp_field, "seccomp", e))?;
            }
            choice.setting()
        };
        c.apparmor = match apparmor.as_str() {
            "" | "unconfined" => String::new(),
            _ if o.privileged => String::new(),
            profile => {
                if !Path::new("/sys/kernel/security/apparmor").exists() {
                    return Err(invalid_as(
                        apparmor_field,
                        "apparmor",
                        format!("profile {profile:?}: AppArmor is not enabled on this host"),
                    ));
                }
                profile.to_string()
            }
        };
        Ok(())
    }
}
