//! `concord check` on arbitrary text: the TOML is parsed into the config (unknown fields
//! refused) and every rule checked, each problem with its path. Whatever the file says, the
//! answer is a config or problems; never a panic.

#![no_main]

use concord_engine::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let dir = std::path::Path::new("/nonexistent/concord-fuzz");
    if let Ok(config) = Config::parse_unchecked(&text, dir) {
        for problem in config.check() {
            assert!(!problem.path.is_empty() || !problem.message.is_empty());
        }
    }
});
