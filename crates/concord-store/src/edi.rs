//! State the X12 engine needs from the store: control numbers that never repeat per partner.

use crate::{Result, Store, db::Stmt};

/// The largest control number ISA13 (9 digits) can carry; after it the sequence wraps to 1,
/// which at one interchange a second is 31 years away.
const MAX_CONTROL: i64 = 999_999_999;

/// ISA13 and GS06 for the next interchange to one partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlNumbers {
    pub interchange: u32,
    pub group: u32,
}

impl Store {
    /// Allocate the next control numbers for `partner`: one statement that advances and returns
    /// them, so two hub instances (or two tasks) can never get the same pair.
    pub async fn next_x12_control_numbers(&self, partner: &str) -> Result<ControlNumbers> {
        let sql = format!(
            "INSERT INTO x12_control_numbers (partner, interchange, grp) VALUES ($1, 1, 1) \
             ON CONFLICT (partner) DO UPDATE SET \
             interchange = CASE WHEN x12_control_numbers.interchange >= {MAX_CONTROL} THEN 1 \
                                ELSE x12_control_numbers.interchange + 1 END, \
             grp = CASE WHEN x12_control_numbers.grp >= {MAX_CONTROL} THEN 1 \
                        ELSE x12_control_numbers.grp + 1 END \
             RETURNING interchange, grp"
        );
        let row = self
            .db
            .fetch_optional(Stmt::new(sql).bind(partner))
            .await?
            .ok_or_else(|| crate::Error::Decode("control number upsert returned no row".into()))?;
        let number = |col: &str| -> Result<u32> {
            let n = row.int(col)?;
            u32::try_from(n).map_err(|_| crate::Error::Decode(format!("{col} {n} out of range")))
        };
        Ok(ControlNumbers {
            interchange: number("interchange")?,
            group: number("grp")?,
        })
    }
}
