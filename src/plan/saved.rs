//! Saved plans: `orc plan -o FILE` and `orc apply FILE`.
//!
//! A saved plan records, per task, fingerprints of the desired, recorded and live
//! copies it was computed from. Applying it recomputes them; if anything moved, the
//! plan is stale and is refused with the names of the tasks that changed, because
//! applying a plan nobody reviewed is what saved plans exist to prevent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Fingerprint, Plan};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format_version: String,
    pub config: PathBuf,
    pub state: PathBuf,
    pub backend: String,
    pub folder: String,
    pub host: String,
    pub targets: Vec<String>,
    pub fingerprints: BTreeMap<String, Fingerprint>,
    /// The plan as shown, for people reading the file.
    pub plan: serde_json::Value,
}

/// Which tasks moved since the plan was saved, by input.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Staleness {
    pub config: Vec<String>,
    pub state: Vec<String>,
    pub live: Vec<String>,
}

impl Staleness {
    pub fn is_stale(&self) -> bool {
        !(self.config.is_empty() && self.state.is_empty() && self.live.is_empty())
    }
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (what, names) in [
            ("the configuration", &self.config),
            ("the state", &self.state),
            ("the live scheduler", &self.live),
        ] {
            if !names.is_empty() {
                writeln!(f, "  {what} changed for: {}", names.join(", "))?;
            }
        }
        Ok(())
    }
}

impl SavedPlan {
    pub fn new(plan: &Plan, config: &Path, state: &Path, targets: &[String]) -> SavedPlan {
        SavedPlan {
            format_version: "1".to_string(),
            config: std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf()),
            state: state.to_path_buf(),
            backend: plan.backend.clone(),
            folder: plan.folder.clone(),
            host: plan.host.clone(),
            targets: targets.to_vec(),
            fingerprints: plan.fingerprints.clone(),
            plan: super::render_json(plan),
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), PlanFileError> {
        let file = |source| PlanFileError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| file(e.into()))?;
        std::fs::write(path, text + "\n").map_err(file)
    }

    pub fn read(path: &Path) -> Result<SavedPlan, PlanFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanFileError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        let saved: SavedPlan =
            serde_json::from_str(&text).map_err(|source| PlanFileError::NotAPlan {
                path: path.to_path_buf(),
                source,
            })?;
        if saved.format_version != "1" {
            return Err(PlanFileError::Format {
                path: path.to_path_buf(),
                version: saved.format_version,
            });
        }
        Ok(saved)
    }

    /// Compare with a freshly computed plan over the same inputs.
    pub fn staleness(&self, fresh: &Plan) -> Staleness {
        let names: BTreeSet<&String> = self
            .fingerprints
            .keys()
            .chain(fresh.fingerprints.keys())
            .collect();
        let mut s = Staleness::default();
        let empty = Fingerprint::default();
        for name in names {
            let (old, new) = (
                self.fingerprints.get(name).unwrap_or(&empty),
                fresh.fingerprints.get(name).unwrap_or(&empty),
            );
            if old.desired != new.desired {
                s.config.push(name.clone());
            }
            if old.recorded != new.recorded {
                s.state.push(name.clone());
            }
            if old.live != new.live {
                s.live.push(name.clone());
            }
        }
        s
    }
}

/// Why a plan file could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("cannot {action} the plan file {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a plan saved by `orc plan -o`", path.display())]
    NotAPlan {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} has plan format {version}, which this orc cannot apply", path.display())]
    Format { path: PathBuf, version: String },
}
