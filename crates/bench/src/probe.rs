//! Measurements: process RSS and CPU from `/proc`, values and quantiles from a Prometheus
//! exposition, percentiles of samples.

use std::time::{Duration, Instant};

use anyhow::Context as _;

/// Resident and peak memory of a process, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// `VmRSS`.
    pub rss_kib: u64,
    /// `VmHWM` (peak RSS).
    pub peak_kib: u64,
}

/// Reads `/proc/<pid>/status`.
pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .unwrap_or_default()
    };
    Ok(Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    })
}

/// User + system CPU time a process has used so far.
pub fn cpu_time(pid: u32, ticks_per_second: u64) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may contain spaces: fields are counted after its closing paren.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/pid/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the paren.
    let ticks: u64 = fields
        .get(11..13)
        .context("short /proc/pid/stat")?
        .iter()
        .map(|field| field.parse::<u64>().unwrap_or_default())
        .sum();
    Ok(Duration::from_secs_f64(
        ticks as f64 / ticks_per_second as f64,
    ))
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux when it cannot be asked).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

/// CPU use of a process over a window, in percent of one core.
pub struct CpuWindow {
    pid: u32,
    ticks: u64,
    started: Instant,
    used: Duration,
}

impl CpuWindow {
    /// Starts measuring.
    pub fn start(pid: u32, ticks: u64) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            ticks,
            started: Instant::now(),
            used: cpu_time(pid, ticks)?,
        })
    }

    /// Percent of one core used since [`Self::start`].
    pub fn percent(&self) -> anyhow::Result<f64> {
        let used = cpu_time(self.pid, self.ticks)?.saturating_sub(self.used);
        Ok(100.0 * used.as_secs_f64() / self.started.elapsed().as_secs_f64())
    }
}

/// One sample value from a Prometheus text exposition (`name` may carry labels).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

/// The `q` quantile of histogram `name`, interpolated linearly within its buckets (as
/// Prometheus' `histogram_quantile` does).
pub fn histogram_quantile(text: &str, name: &str, q: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{le=\"");
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&prefix)?;
            let (bound, count) = rest.split_once("\"} ")?;
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for (bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower.0);
            }
            let within = (rank - lower.1) / (count - lower.1).max(f64::MIN_POSITIVE);
            return Some(lower.0 + (bound - lower.0) * within);
        }
        lower = (bound, count);
    }
    None
}

/// The `q` percentile (0–100) of `samples` (nearest rank).
pub fn percentile(samples: &mut [Duration], q: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = ((q / 100.0) * samples.len() as f64).ceil() as usize;
    samples.get(rank.clamp(1, samples.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let text = "relay_x_bucket{le=\"0.001\"} 50\nrelay_x_bucket{le=\"0.002\"} 100\nrelay_x_bucket{le=\"+Inf\"} 100\n";
        let p50 = histogram_quantile(text, "relay_x", 0.5).unwrap();
        assert!((p50 - 0.001).abs() < 1e-9);
        let p75 = histogram_quantile(text, "relay_x", 0.75).unwrap();
        assert!((p75 - 0.0015).abs() < 1e-9);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(
            percentile(&mut samples, 50.0),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            percentile(&mut samples, 99.0),
            Some(Duration::from_millis(99))
        );
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    #[test]
    fn this_process_has_memory_and_cpu() {
        let pid = std::process::id();
        assert!(memory(pid).unwrap().rss_kib > 0);
        assert!(cpu_time(pid, ticks_per_second()).is_ok());
    }
}
