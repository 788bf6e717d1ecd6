//! `concord bench import`: the exclusion-list import (`concord import exclusions`) of a
//! generated OIG LEIE file into a fresh embedded store. The target is 100,000 rows/s on the
//! 2-core machine; the run fails below `--min-rows-per-sec`.

use std::io::Write as _;

use anyhow::{Result, bail};
use concord_engine::import::ImportKind;
use concord_model::screening::ExclusionList;
use concord_store::{Store, StoreOptions};

use super::tempdir::Dir;

/// The LEIE's published header.
pub const LEIE_HEADER: &str = "LASTNAME,FIRSTNAME,MIDNAME,BUSNAME,GENERAL,SPECIALTY,UPIN,NPI,DOB,ADDRESS,CITY,STATE,ZIP,EXCLTYPE,EXCLDATE,REINDATE,WAIVERDATE,WVRSTATE";

const LAST: [&str; 8] = [
    "SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS",
];
const FIRST: [&str; 6] = ["JOHN", "MARY", "ROBERT", "PATRICIA", "MICHAEL", "LINDA"];
const CITY: [(&str, &str, &str); 4] = [
    ("COLUMBUS", "OH", "43210"),
    ("DAYTON", "OH", "45402"),
    ("AUSTIN", "TX", "73301"),
    ("TAMPA", "FL", "33601"),
];

/// A valid NPI (Luhn over 80840 + nine digits) from a number.
pub fn npi_from(n: u64) -> String {
    let body = format!("{:09}", 100_000_000 + n % 899_999_999);
    format!("{body}{}", concord_model::Npi::check_digit(&body))
}

/// Row `i` of a generated LEIE file: every fifth a business, a third with an NPI.
pub fn leie_row(i: usize) -> String {
    let (city, state, zip) = CITY[i % CITY.len()];
    let npi = if i.is_multiple_of(3) {
        npi_from(i as u64)
    } else {
        "0000000000".into()
    };
    let excl = format!("20{:02}{:02}{:02}", 10 + i % 15, 1 + i % 12, 1 + i % 28);
    if i.is_multiple_of(5) {
        format!(
            ",,,PROVIDER {i} MEDICAL SUPPLY INC,DME - SUPPLIER,,,{npi},,{} MAIN ST,{city},{state},{zip},1128a1,{excl},00000000,00000000,",
            100 + i % 900
        )
    } else {
        format!(
            "{}{i},{},A,,IND- LIC HC SERV PRO,NURSE/NURSES AIDE,,{npi},19{:02}0101,{} OAK AVE,{city},{state},{zip},1128b4,{excl},00000000,00000000,",
            LAST[i % LAST.len()],
            FIRST[i % FIRST.len()],
            40 + i % 50,
            10 + i % 900
        )
    }
}

pub async fn run(rows: usize, min_rows_per_sec: u64) -> Result<()> {
    let dir = Dir::new()?;
    let file = dir.0.join("leie.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        writeln!(out, "{LEIE_HEADER}")?;
        for i in 0..rows {
            writeln!(out, "{}", leie_row(i))?;
        }
        out.flush()?;
    }
    let size = std::fs::metadata(&file)?.len();
    let url = format!("sqlite://{}", dir.0.join("concord.db").display());
    let store = Store::open(StoreOptions::new(url).bulk()).await?;
    let input = std::fs::File::open(&file)?;
    let summary = crate::import::import_into(
        &store,
        ImportKind::Exclusions(ExclusionList::Leie),
        input,
        size,
        &dir.0.join("report.csv"),
    )
    .await?;
    let counts = store.exclusion_counts().await?;
    store.close().await;
    println!(
        "exclusion import: {} rows ({:.1} MB) in {:.2} s = {} rows/s; {} applied, {} refused; stored {:?}",
        summary.rows,
        size as f64 / 1e6,
        summary.seconds,
        summary.rows_per_second,
        summary.applied,
        summary.failed,
        counts
    );
    if summary.failed > 0 {
        bail!("{} generated rows were refused", summary.failed);
    }
    if summary.rows_per_second < min_rows_per_sec {
        bail!(
            "{} rows/s is under the target of {min_rows_per_sec}",
            summary.rows_per_second
        );
    }
    Ok(())
}
