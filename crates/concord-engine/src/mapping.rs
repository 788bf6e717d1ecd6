//! Declarative mappings: jq-language filters (run by jaq) that turn a system's native JSON into
//! the canonical model and back. One file per system, message type and direction.
//!
//! Filters are compiled once at start-up and cached; compiling is where syntax errors are found,
//! so `concord check` catches them. A run error names the file, the filter and, where the
//! filter used `need(path)`, the input path that was missing.

use std::{collections::HashMap, path::Path, sync::Arc};

use jaq_core::{
    Compiler, Ctx, Vars,
    data::JustLut,
    load::{Arena, File, Loader},
    unwrap_valr,
};
use jaq_json::Val;
use serde_json::Value;

/// Helpers every mapping may use, defined before the mapping's own code.
///
/// `need(path)` reads a required input value and fails with the path when it is missing, so a
/// mapping error can say which input field was absent.
const PRELUDE: &str = r#"
def need(p): (try getpath(path(p)) catch null) as $v
  | if $v == null then error({"concord_mapping_error": "missing", "path": (path(p) | map(tostring) | join("."))}) else $v end;
def digits: tostring | gsub("[^0-9]"; "");
def yyyymmdd_to_date: tostring | "\(.[0:4])-\(.[4:6])-\(.[6:8])";
def date_to_yyyymmdd: tostring | gsub("-"; "");
"#;

/// A mapping failure, naming the file, the filter and the input path where known.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MappingError {
    #[error("mapping {file}: cannot read: {message}")]
    Read { file: String, message: String },
    #[error("mapping {file}: does not compile: {message}")]
    Compile { file: String, message: String },
    #[error("mapping {file} (filter {filter}): {message}{}", input_path.as_ref().map(|p| format!(" at input path .{p}")).unwrap_or_default())]
    Run {
        file: String,
        filter: String,
        message: String,
        input_path: Option<String>,
    },
    #[error("mapping {file} (filter {filter}) produced no output")]
    NoOutput { file: String, filter: String },
    #[error("mapping {file}: input is not JSON: {message}")]
    Input { file: String, message: String },
}

impl MappingError {
    /// The input path the error is about, if the mapping named one.
    pub fn input_path(&self) -> Option<&str> {
        match self {
            MappingError::Run { input_path, .. } => input_path.as_deref(),
            _ => None,
        }
    }
}

type JqFilter = jaq_core::compile::Filter<jaq_core::Native<JustLut<Val>>>;

/// A compiled mapping, ready to run on many inputs.
pub struct Mapping {
    file: String,
    /// A short name for error messages, e.g. `clm contract inbound`.
    filter: String,
    /// SHA-256 of the source it was compiled from (for the config fingerprint).
    source_sha256: String,
    jq: JqFilter,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("file", &self.file)
            .field("filter", &self.filter)
            .finish()
    }
}

/// Turns a byte offset in `code` into `line:column` for compile errors.
fn line_col(code: &str, fragment: &str) -> String {
    let offset = (fragment.as_ptr() as usize)
        .saturating_sub(code.as_ptr() as usize)
        .min(code.len());
    let before = &code[..offset];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    format!("{line}:{col}")
}

impl Mapping {
    /// Compiles jq source. `file` and `filter` are only used in error messages.
    pub fn compile(file: &str, filter: &str, code: &str) -> Result<Mapping, MappingError> {
        let program = format!("{PRELUDE}\n{code}");
        // Lines in errors refer to the mapping file, not to the prelude in front of it.
        let prelude_lines = PRELUDE.matches('\n').count() + 1;
        let compile_error = |message: String| MappingError::Compile {
            file: file.to_string(),
            message,
        };
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let loader = Loader::new(defs);
        let located = |fragment: &str| {
            let lc = line_col(&program, fragment);
            let (line, col) = lc.split_once(':').unwrap_or(("0", "0"));
            let line = line
                .parse::<usize>()
                .unwrap_or(0)
                .saturating_sub(prelude_lines);
            format!(
                "line {line}, column {col}, near {:?}",
                fragment.chars().take(20).collect::<String>()
            )
        };
        let modules = loader
            .load(
                &arena,
                File {
                    code: program.as_str(),
                    path: (),
                },
            )
            .map_err(|errs| {
                let messages: Vec<String> = errs
                    .into_iter()
                    .flat_map(|(_, e)| match e {
                        jaq_core::load::Error::Io(v) => v
                            .into_iter()
                            .map(|(p, m)| format!("{p}: {m}"))
                            .collect::<Vec<_>>(),
                        jaq_core::load::Error::Lex(v) => v
                            .into_iter()
                            .map(|(expect, at)| {
                                format!("expected {} at {}", expect.as_str(), located(at))
                            })
                            .collect(),
                        jaq_core::load::Error::Parse(v) => v
                            .into_iter()
                            .map(|(expect, at)| {
                                format!("expected {} at {}", expect.as_str(), located(at))
                            })
                            .collect(),
                    })
                    .collect();
                compile_error(messages.join("; "))
            })?;
        let jq = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| {
                let messages: Vec<String> = errs
                    .into_iter()
                    .flat_map(|(_, e)| {
                        e.into_iter().map(|(name, undefined)| {
                            format!("undefined {undefined:?} `{name}` at {}", located(name))
                        })
                    })
                    .collect();
                compile_error(messages.join("; "))
            })?;
        Ok(Mapping {
            file: file.to_string(),
            filter: filter.to_string(),
            source_sha256: crate::hub::sha256_hex(code.as_bytes()),
            jq,
        })
    }

    /// Reads and compiles a mapping file.
    pub fn load(path: &Path, filter: &str) -> Result<Mapping, MappingError> {
        let file = path.display().to_string();
        let code = std::fs::read_to_string(path).map_err(|e| MappingError::Read {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::compile(&file, filter, &code)
    }

    /// Runs the filter on raw JSON bytes and returns its first output.
    pub fn run_bytes(&self, input: &[u8]) -> Result<Value, MappingError> {
        let val = jaq_json::read::parse_single(input).map_err(|e| MappingError::Input {
            file: self.file.clone(),
            message: e.to_string(),
        })?;
        self.run_val(val)
    }

    /// Runs the filter on a JSON value and returns its first output.
    ///
    /// The value goes to jaq as it is (jaq-json reads it through serde), not written out as
    /// text and parsed again: an outbound delivery runs its mapping on the whole canonical
    /// document, and the round trip through text was about a fifth of the mapping's cost
    /// (`benches/outbound_mapping.rs`).
    pub fn run(&self, input: &Value) -> Result<Value, MappingError> {
        let val =
            <Val as serde::Deserialize>::deserialize(input).map_err(|e| MappingError::Input {
                file: self.file.clone(),
                message: e.to_string(),
            })?;
        self.run_val(val)
    }

    fn run_val(&self, input: Val) -> Result<Value, MappingError> {
        let val = self.first_output(input)?;
        match plain_json(&val) {
            Some(value) => Ok(value),
            None => self.json_through_text(&val),
        }
    }

    /// An output as JSON by way of its text: what every output took before [`plain_json`].
    fn json_through_text(&self, val: &Val) -> Result<Value, MappingError> {
        serde_json::from_str(&val.to_string()).map_err(|e| MappingError::Run {
            file: self.file.clone(),
            filter: self.filter.clone(),
            message: format!("output is not JSON: {e}"),
            input_path: None,
        })
    }

    /// The filter's first output, or the error that names the file, filter and input path.
    fn first_output(&self, input: Val) -> Result<Val, MappingError> {
        let ctx = Ctx::<JustLut<Val>>::new(&self.jq.lut, Vars::new([]));
        let mut outputs = self.jq.id.run((ctx, input)).map(unwrap_valr);
        match outputs.next() {
            None => Err(MappingError::NoOutput {
                file: self.file.clone(),
                filter: self.filter.clone(),
            }),
            Some(Err(err)) => {
                let value = err.into_val();
                let text = value.to_string();
                let parsed: Option<Value> = serde_json::from_str(&text).ok();
                let input_path = parsed
                    .as_ref()
                    .filter(|v| v.get("concord_mapping_error").is_some())
                    .and_then(|v| v.get("path"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let message = match (&input_path, parsed) {
                    (Some(_), _) => "a required input value is missing".to_string(),
                    (None, Some(Value::String(s))) => s,
                    (None, _) => text,
                };
                Err(MappingError::Run {
                    file: self.file.clone(),
                    filter: self.filter.clone(),
                    message,
                    input_path,
                })
            }
            Some(Ok(val)) => Ok(val),
        }
    }
}

/// A filter's output as JSON, built directly when it is plain JSON: text strings and object
/// keys, numbers that are machine integers, finite floats or decimals JSON can read. `None` for
/// anything else (byte strings, non-text keys, big integers, NaN), which goes the long way, as
/// text, and gets the same answer or error as before.
fn plain_json(val: &Val) -> Option<Value> {
    use jaq_json::Num;
    Some(match val {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(Num::Int(i)) => Value::from(*i),
        Val::Num(Num::Float(x)) => Value::Number(serde_json::Number::from_f64(*x)?),
        Val::Num(Num::Dec(text)) => Value::Number(text.parse().ok()?),
        Val::Num(Num::BigInt(_)) => return None,
        Val::TStr(bytes) => Value::String(std::str::from_utf8(bytes).ok()?.to_string()),
        Val::BStr(_) => return None,
        Val::Arr(items) => Value::Array(items.iter().map(plain_json).collect::<Option<_>>()?),
        Val::Obj(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| match k {
                    Val::TStr(key) => {
                        Some((std::str::from_utf8(key).ok()?.to_string(), plain_json(v)?))
                    }
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
    })
}

/// Which way a mapping goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Native → canonical.
    Inbound,
    /// Canonical → native.
    Outbound,
    /// A lookup answer → canonical candidates.
    Lookup,
    /// A system's list of its records → `[{"external_id", "record"}]` for reconciliation.
    View,
}

/// Every mapping of the config, compiled, by (system, message type, direction).
#[derive(Debug, Default, Clone)]
pub struct MappingRegistry {
    mappings: HashMap<(String, String, Direction), Arc<Mapping>>,
}

impl MappingRegistry {
    /// Every problem of `config` and of its mappings at once, each under its path; the compiled
    /// mappings when there is none. Where both the config check and the compiler speak about
    /// one mapping (a missing file), the compiler's more precise word is kept.
    pub fn validate(
        config: &crate::config::Config,
    ) -> Result<Self, Vec<crate::config::ConfigProblem>> {
        let mut problems = config.check();
        match Self::build(config) {
            Ok(registry) if problems.is_empty() => Ok(registry),
            Ok(_) => Err(problems),
            Err(mut more) => {
                problems.retain(|p| !more.iter().any(|m| m.path == p.path));
                problems.append(&mut more);
                Err(problems)
            }
        }
    }

    /// Compiles every mapping the config names; returns every failure, not just the first.
    pub fn build(
        config: &crate::config::Config,
    ) -> Result<Self, Vec<crate::config::ConfigProblem>> {
        let mut registry = MappingRegistry::default();
        let mut problems = Vec::new();
        for (system_id, system) in &config.systems {
            let routes = system
                .inbound
                .iter()
                .map(|(t, r)| (t, &r.mapping, Direction::Inbound, "inbound"))
                .chain(
                    system
                        .outbound
                        .iter()
                        .map(|(t, r)| (t, &r.mapping, Direction::Outbound, "outbound")),
                )
                .chain(
                    system
                        .lookups
                        .iter()
                        .map(|(t, r)| (t, &r.mapping, Direction::Lookup, "lookups")),
                )
                .chain(
                    system
                        .views
                        .iter()
                        .map(|(t, r)| (t, &r.mapping, Direction::View, "views")),
                );
            for (message_type, path, direction, section) in routes {
                let filter = format!("{system_id} {message_type} {section}");
                match Mapping::load(&config.resolve(path), &filter) {
                    Ok(m) => {
                        registry.mappings.insert(
                            (system_id.clone(), message_type.clone(), direction),
                            Arc::new(m),
                        );
                    }
                    Err(e) => problems.push(crate::config::ConfigProblem {
                        path: format!("systems.{system_id}.{section}.{message_type}.mapping"),
                        message: e.to_string(),
                    }),
                }
            }
        }
        if problems.is_empty() {
            Ok(registry)
        } else {
            Err(problems)
        }
    }

    /// SHA-256 over every mapping's place and the source it was compiled from: what the hub
    /// runs, not what the files hold now.
    pub fn fingerprint(&self) -> String {
        let mut lines: Vec<String> = self
            .mappings
            .iter()
            .map(|((system, message_type, direction), m)| {
                format!("{system} {message_type} {direction:?} {}", m.source_sha256)
            })
            .collect();
        lines.sort();
        crate::hub::sha256_hex(lines.join("\n").as_bytes())
    }

    pub fn get(
        &self,
        system: &str,
        message_type: &str,
        direction: Direction,
    ) -> Option<Arc<Mapping>> {
        self.mappings
            .get(&(system.to_string(), message_type.to_string(), direction))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_native_to_canonical() {
        let m = Mapping::compile(
            "t.jq",
            "test",
            r#"{id: .contractNumber, version: (.amendmentNo + 1), from: (.validFrom | yyyymmdd_to_date)}"#,
        )
        .unwrap();
        let out = m
            .run(&json!({"contractNumber": "C-1", "amendmentNo": 0, "validFrom": "20260101"}))
            .unwrap();
        assert_eq!(
            out,
            json!({"id": "C-1", "version": 1, "from": "2026-01-01"})
        );
    }

    /// The direct way in and out (`run`) answers what the way through text answers (the input
    /// written out and parsed by jaq, the output written out and parsed by serde_json), for
    /// every kind of JSON value and for outputs that are not plain JSON.
    #[test]
    fn values_in_and_out_match_the_way_through_text() {
        let input = json!({
            "s": "café \u{1F600} \"quoted\" \\ back", "e": "", "n": null, "t": true, "f": false,
            "i": 42, "neg": -7, "big": 18446744073709551615u64, "min": -9223372036854775808i64,
            "x": 1.5, "tiny": 1e-300, "huge": 1.7976931348623157e308, "whole": 3.0,
            "arr": [1, "two", [3.25], {"k": null}], "obj": {"nested": {"deep": [true]}},
            "price_text": "12.50"
        });
        for filter in [
            ".",
            "del(.huge)",
            "[.x, .whole, .tiny, .i, .neg, .min]",
            ".arr | map(type)",
            "{sum: (.i + .x), prod: (.i * .neg), div: (.i / 5), big: (.big + 1), bigger: (.big * .big)}",
            "[.s, .e] | map(length)",
            "{(.s): 1, keys: keys, vals: [.[] | type]}",
            "1e1000",
            "[nan, infinite, -infinite] | map(isnan)",
            "\"x\" | tojson | fromjson",
            ".tiny * .tiny",
            "0.1 + 0.2",
            "100000000000000000000000000000",
            "12.50",
            "[1.0, -0.0, 2.5e-3, 1e400]",
            "nan",
            "infinite",
            "{(1): 2}",
            "[limit(3; repeat(\"é\"))] | add | explode | implode",
        ] {
            let m = Mapping::compile("t.jq", "test", filter).unwrap();
            let direct = m.run(&input).map_err(|e| e.to_string());
            let text = jaq_json::read::parse_single(input.to_string().as_bytes())
                .map_err(|e| e.to_string())
                .and_then(|val| m.first_output(val).map_err(|e| e.to_string()))
                .and_then(|val| m.json_through_text(&val).map_err(|e| e.to_string()));
            assert_eq!(direct, text, "filter {filter}");
        }
    }

    #[test]
    fn decimal_strings_pass_through_as_strings() {
        let m = Mapping::compile("t.jq", "test", r#"{price: .p}"#).unwrap();
        assert_eq!(
            m.run(&json!({"p": "12.50"})).unwrap(),
            json!({"price": "12.50"})
        );
    }

    #[test]
    fn missing_required_input_names_the_path() {
        let m = Mapping::compile(
            "clm/contract.in.jq",
            "clm contract inbound",
            r#"{tin: need(.contract.counterparty.taxId)}"#,
        )
        .unwrap();
        let err = m
            .run(&json!({"contract": {"counterparty": {}}}))
            .unwrap_err();
        assert_eq!(err.input_path(), Some("contract.counterparty.taxId"));
        let text = err.to_string();
        assert!(
            text.contains("clm/contract.in.jq") && text.contains("clm contract inbound"),
            "{text}"
        );
    }

    #[test]
    fn compile_error_names_file_and_line() {
        let err = Mapping::compile("bad.jq", "test", "{a: .x,\n b: (}").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("bad.jq") && text.contains("line 2"), "{text}");
        let err = Mapping::compile("bad.jq", "test", "nosuchfunction(1)").unwrap_err();
        assert!(err.to_string().contains("nosuchfunction"), "{err}");
    }

    #[test]
    fn runtime_error_message_is_kept() {
        let m = Mapping::compile("t.jq", "test", r#".a + 1"#).unwrap();
        let err = m.run(&json!({"a": "x"})).unwrap_err();
        assert!(
            matches!(
                err,
                MappingError::Run {
                    input_path: None,
                    ..
                }
            ),
            "{err:?}"
        );
        // jaq's own words reach the operator, with the file and filter they concern.
        let MappingError::Run { message, .. } = &err else {
            unreachable!()
        };
        assert!(message.contains("\"x\""), "{message}");
        let text = err.to_string();
        assert!(
            text.contains("t.jq") && text.contains(message.as_str()),
            "{text}"
        );
    }
}
