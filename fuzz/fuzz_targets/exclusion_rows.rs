//! The exclusion-list readers (OIG LEIE and SAM.gov) on arbitrary text: the first line is the
//! header, the others rows, split at commas. A header is taken or refused naming what is
//! missing; a row becomes an entry or errors naming its fields; never a panic.

#![no_main]

use concord_model::screening::{ExclusionColumns, ExclusionList};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return;
    };
    let header: Vec<&str> = header.split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    for list in [ExclusionList::Leie, ExclusionList::Sam] {
        let Ok(columns) = ExclusionColumns::from_header(list, &header) else {
            continue;
        };
        for row in &rows {
            if let Err(errors) = columns.row(row) {
                assert!(!errors.is_empty(), "a refused row names its errors");
            }
        }
    }
});
