//! Printing what `check` found: one line per finding for people, one JSON document for CI.

use std::io::Write;

use serde_json::json;

use super::{FileReport, Severity, Unit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

fn prefix(file: &str, unit: &Unit) -> String {
    if unit.location.is_empty() {
        file.to_string()
    } else {
        format!("{file}: {}", unit.location)
    }
}

fn summary(unit: &Unit) -> String {
    match (&unit.routes, &unit.mode) {
        (Some(routes), Some(mode)) => {
            let n = routes.len();
            format!("{n} route{} ({}), mode {mode}", if n == 1 { "" } else { "s" }, routes.join(", "))
        }
        _ => String::new(),
    }
}

pub fn print(reports: &[FileReport], format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    let errors: usize = reports.iter().map(FileReport::errors).sum();
    let warnings: usize = reports.iter().map(FileReport::warnings).sum();
    match format {
        Format::Json => {
            let files: Vec<_> = reports
                .iter()
                .map(|r| {
                    let units: Vec<_> = r
                        .units
                        .iter()
                        .map(|u| {
                            let list = |sev: Severity| -> Vec<_> {
                                u.findings
                                    .iter()
                                    .filter(|f| f.severity == sev)
                                    .map(|f| {
                                        let mut o = json!({"code": f.code, "path": f.path, "message": f.message});
                                        if let (Some(h), Some(o)) = (&f.hint, o.as_object_mut()) {
                                            o.insert("hint".to_string(), json!(h));
                                        }
                                        o
                                    })
                                    .collect()
                            };
                            json!({
                                "location": u.location,
                                "valid": u.errors() == 0,
                                "routes": u.routes,
                                "mode": u.mode,
                                "errors": list(Severity::Error),
                                "warnings": list(Severity::Warning),
                            })
                        })
                        .collect();
                    json!({"file": r.file, "error": r.error, "configurations": units})
                })
                .collect();
            let doc = json!({"files": files, "errors": errors, "warnings": warnings});
            writeln!(out, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default())?;
        }
        Format::Text => {
            for r in reports {
                if let Some(e) = &r.error {
                    writeln!(out, "{}: error: {e}", r.file)?;
                }
                for u in &r.units {
                    let p = prefix(&r.file, u);
                    if u.errors() == 0 {
                        writeln!(out, "{p}: ok, {}", summary(u))?;
                    }
                    for f in &u.findings {
                        match f.severity {
                            Severity::Error => writeln!(out, "{p}: error: {}", f.message)?,
                            Severity::Warning => writeln!(out, "{p}: warning [{}] {}: {}", f.code, f.path, f.message)?,
                        }
                        if let Some(h) = &f.hint {
                            writeln!(out, "    hint: {h}")?;
                        }
                    }
                }
            }
            let units: usize = reports.iter().map(|r| r.units.len()).sum();
            let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
            writeln!(
                out,
                "checked {}, {}: {}, {}",
                plural(reports.len(), "file"),
                plural(units, "configuration"),
                plural(errors, "error"),
                plural(warnings, "warning"),
            )?;
        }
    }
    Ok(())
}
