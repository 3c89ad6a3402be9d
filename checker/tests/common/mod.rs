//! Helpers shared by the checker's integration tests.

use std::path::PathBuf;

/// The shared test data folder (holding `porcupine/`): `$FAULTLINE_TESTDATA`,
/// else `../shared/data` beside the workspace root. Panics loudly when it is
/// missing: a skipped corpus would be a silent pass.
pub fn testdata() -> PathBuf {
    let dir = match std::env::var_os("FAULTLINE_TESTDATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    };
    assert!(
        dir.join("porcupine").is_dir(),
        "test data missing: {} has no porcupine/ folder. Put the shared/ folder beside the \
         checkout or set FAULTLINE_TESTDATA to its data/ folder.",
        dir.display()
    );
    dir
}
