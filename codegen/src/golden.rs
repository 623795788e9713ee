//! Golden files: a generated artefact is checked in, and a test fails when regenerating it
//! gives something else, so schema drift always shows up in review.

use std::path::Path;

/// The checked-in file differs from what the code generates now.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GoldenError {
    /// The file is missing or unreadable.
    #[error("cannot read {path}: {source}; run the test with ARPC_BLESS=1 to write it")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file differs.
    #[error(
        "{path} is out of date: the Rust schema changed (first difference at line {line}:\n  \
         checked in: {old}\n  generated:  {new}\n); review the change, then run the test with \
         ARPC_BLESS=1 to rewrite the file"
    )]
    Drift {
        /// The file.
        path: String,
        /// 1-based line of the first difference.
        line: usize,
        /// That line as checked in.
        old: String,
        /// That line as generated.
        new: String,
    },
    /// Writing the file (with `ARPC_BLESS=1`) failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Compares `generated` with the file at `path`; with the environment variable `ARPC_BLESS`
/// set, writes `generated` there instead.
pub fn check(path: &Path, generated: &str) -> Result<(), GoldenError> {
    let shown = path.display().to_string();
    if std::env::var_os("ARPC_BLESS").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| GoldenError::Write {
                path: shown.clone(),
                source,
            })?;
        }
        return std::fs::write(path, generated).map_err(|source| GoldenError::Write {
            path: shown,
            source,
        });
    }
    let existing = std::fs::read_to_string(path).map_err(|source| GoldenError::Read {
        path: shown.clone(),
        source,
    })?;
    if existing == generated {
        return Ok(());
    }
    let mut old_lines = existing.lines();
    let mut new_lines = generated.lines();
    let mut line = 1;
    loop {
        match (old_lines.next(), new_lines.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            (a, b) => {
                return Err(GoldenError::Drift {
                    path: shown,
                    line,
                    old: a.unwrap_or("<end of file>").to_owned(),
                    new: b.unwrap_or("<end of file>").to_owned(),
                });
            }
        }
    }
}
