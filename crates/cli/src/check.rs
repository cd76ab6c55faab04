//! `bridge check FILE`: parses every line of a recording with the Lambda's parser, offline.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

/// Runs `bridge check`: exit 0 whatever the lines hold (it reports, it does not judge).
///
/// # Errors
/// The file cannot be read.
pub fn run(file: &Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let (mut ok, mut rejected) = (0usize, 0usize);
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match bridge_core::inbound::parse_line(line) {
            Ok(messages) => {
                for sms in messages {
                    ok += 1;
                    println!(
                        "line {}: ok from {} to {} ({} chars)",
                        index + 1,
                        sms.origination,
                        sms.destination,
                        sms.body.chars().count()
                    );
                }
            }
            Err(error) => {
                rejected += 1;
                println!("line {}: rejected: {error}", index + 1);
            }
        }
    }
    println!("{ok} parsed, {rejected} rejected");
    Ok(ExitCode::SUCCESS)
}
