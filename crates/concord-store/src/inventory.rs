//! Stock per facility, location and item (part 6): read under the usage workflow's lock,
//! written whole in the commit that consumes or counts it.

use chrono::{DateTime, Utc};
use concord_model::workflow::usage::Shelf;
use serde::Serialize;

use crate::{
    Result, Store,
    db::{Row, Stmt},
    from_micros, to_micros,
};

/// One shelf: where, what, and its levels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockLevel {
    pub facility: String,
    pub location: String,
    pub gtin: String,
    #[serde(flatten)]
    pub shelf: Shelf,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "facility, location, gtin, on_hand, par_level, reorder_point, bill_only, replenishment, updated_at";

fn stock_row(row: &Row) -> Result<StockLevel> {
    Ok(StockLevel {
        facility: row.text("facility")?,
        location: row.text("location")?,
        gtin: row.text("gtin")?,
        shelf: Shelf {
            on_hand: row.int("on_hand")?,
            par_level: row.int("par_level")?,
            reorder_point: row.int("reorder_point")?,
            bill_only: row.int("bill_only")? != 0,
            replenishment: row.opt_text("replenishment")?,
        },
        updated_at: from_micros(row.int("updated_at")?),
    })
}

/// The statement that stores one shelf whole (insert or replace).
pub(crate) fn set_stock(s: StockLevel) -> Stmt {
    Stmt::new(format!(
        "INSERT INTO stock_levels ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (facility, location, gtin) DO UPDATE SET on_hand = excluded.on_hand, \
         par_level = excluded.par_level, reorder_point = excluded.reorder_point, \
         bill_only = excluded.bill_only, replenishment = excluded.replenishment, \
         updated_at = excluded.updated_at"
    ))
    .bind(s.facility)
    .bind(s.location)
    .bind(s.gtin)
    .bind(s.shelf.on_hand)
    .bind(s.shelf.par_level)
    .bind(s.shelf.reorder_point)
    .bind(i64::from(s.shelf.bill_only))
    .bind(s.shelf.replenishment)
    .bind(to_micros(s.updated_at))
}

impl Store {
    pub async fn stock_level(
        &self,
        facility: &str,
        location: &str,
        gtin: &str,
    ) -> Result<Option<StockLevel>> {
        let row = self
            .db
            .fetch_optional(
                Stmt::new(format!(
                    "SELECT {COLUMNS} FROM stock_levels WHERE facility = $1 AND location = $2 AND gtin = $3"
                ))
                .bind(facility)
                .bind(location)
                .bind(gtin),
            )
            .await?;
        row.as_ref().map(stock_row).transpose()
    }

    /// A facility's shelves (all facilities when `None`), by location and item; at most `limit`.
    pub async fn stock_levels(
        &self,
        facility: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StockLevel>> {
        let stmt = match facility {
            Some(f) => Stmt::new(format!(
                "SELECT {COLUMNS} FROM stock_levels WHERE facility = $1 ORDER BY facility, location, gtin LIMIT $2"
            ))
            .bind(f),
            None => Stmt::new(format!(
                "SELECT {COLUMNS} FROM stock_levels ORDER BY facility, location, gtin LIMIT $1"
            )),
        };
        let rows = self.db.fetch(stmt.bind(i64::from(limit))).await?;
        rows.iter().map(stock_row).collect()
    }
}
