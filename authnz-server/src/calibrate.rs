//! Argon2 calibration (`authnzrv argon2 calibrate`): find the Argon2id
//! parameters that make one hash take about a target time on this machine,
//! within the memory an operator allows.
//!
//! Memory is the parameter that costs an attacker most, so it is kept at
//! the allowed maximum and the number of passes (`t`) is sized to the
//! target; only when one pass over the whole allowance already takes longer
//! than the target is the memory scaled down (time grows linearly with
//! both). Each candidate is measured by hashing (the median of a few runs)
//! and timed by the CPU time of the hashing thread (on Linux), so a machine
//! busy with other work yields the same parameters as an idle one: what an
//! idle core needs per hash is what the operator sizes for. The final
//! parameters are
//! measured once more and reported with what they imply: how many password
//! checks per second the hashing threads can do, and the memory they hold
//! when all are busy.
//!
//! The hashes run on the calling thread; the caller runs this off any async
//! executor (the admin command has no server to disturb).

use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};

use authnz_core::passwords::{HashParams, MAX_M_COST_KIB, MAX_P_COST, MAX_T_COST};

/// Hashes timed per measurement (the median counts).
const RUNS: usize = 3;

/// Smallest memory Argon2 accepts per lane, KiB.
const MIN_KIB_PER_LANE: u32 = 8;

/// What to calibrate for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalibrationRequest {
    /// How long one hash should take.
    pub target: Duration,
    /// The most memory one hash may use, KiB.
    pub max_memory_kib: u32,
    /// Lanes (`argon2parallelism`), kept as given.
    pub parallelism: u32,
}

/// The parameters found and what they cost here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// The parameters to configure.
    pub params: HashParams,
    /// The median time of one hash with them, measured last.
    pub measured: Duration,
    /// False when even the most passes allowed over the whole memory
    /// allowance stay well under the target (more memory would be needed).
    pub target_reached: bool,
}

impl Calibration {
    /// Password checks (logins, sign-ups, password changes) per second that
    /// `workers` hashing threads sustain on `cores` cores.
    pub fn checks_per_second(&self, workers: usize, cores: usize) -> f64 {
        let busy = workers.min(cores).max(1) as f64;
        busy / self.measured.as_secs_f64().max(1e-6)
    }

    /// Memory held by `workers` hashing threads all hashing at once, KiB.
    pub fn peak_memory_kib(&self, workers: usize) -> u64 {
        u64::from(self.params.m_cost_kib) * workers as u64
    }
}

/// Why calibration could not run.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("the target time must be at least 1 ms")]
    ZeroTarget,
    #[error("parallelism must be 1-{MAX_P_COST}, got {0}")]
    Parallelism(u32),
    #[error(
        "the memory allowance must be {min}-{MAX_M_COST_KIB} KiB for parallelism {parallelism}, got {got} KiB"
    )]
    Memory {
        min: u32,
        parallelism: u32,
        got: u32,
    },
    #[error("argon2: {0}")]
    Argon2(String),
}

/// Find parameters for `request` (see the module docs). Takes roughly
/// `RUNS` times the target for each of a handful of measurements.
pub fn calibrate(request: &CalibrationRequest) -> Result<Calibration, CalibrationError> {
    let p = request.parallelism;
    if p == 0 || p > MAX_P_COST {
        return Err(CalibrationError::Parallelism(p));
    }
    let min_memory = MIN_KIB_PER_LANE * p;
    if request.max_memory_kib < min_memory || request.max_memory_kib > MAX_M_COST_KIB {
        return Err(CalibrationError::Memory {
            min: min_memory,
            parallelism: p,
            got: request.max_memory_kib,
        });
    }
    let target = request.target.as_secs_f64();
    if request.target < Duration::from_millis(1) {
        return Err(CalibrationError::ZeroTarget);
    }
    let params = |m_cost_kib, t_cost| HashParams {
        m_cost_kib,
        t_cost,
        p_cost: p,
        ..HashParams::default()
    };

    let mut m = request.max_memory_kib;
    let one_pass = measure(&params(m, 1))?.as_secs_f64();
    let mut t = 1;
    if one_pass > target {
        // Too slow even with one pass: less memory, in proportion.
        m = scale_memory(m, target / one_pass, min_memory);
        let again = measure(&params(m, 1))?.as_secs_f64();
        if again > target * 1.2 {
            m = scale_memory(m, target / again, min_memory);
        }
    } else {
        t = passes_for(target / one_pass);
        // One correction from a measurement at the chosen `t` (the first
        // pass also pays for filling the memory, so passes are not equal).
        let at_t = measure(&params(m, t))?.as_secs_f64();
        let ratio = target / at_t;
        if !(0.85..=1.15).contains(&ratio) {
            t = passes_for(f64::from(t) * ratio);
        }
    }
    let final_params = params(m, t);
    let measured = measure(&final_params)?;
    Ok(Calibration {
        params: final_params,
        measured,
        target_reached: measured.as_secs_f64() >= target * 0.5,
    })
}

/// Passes for a wanted multiple of one pass's time, in `1..=MAX_T_COST`.
fn passes_for(multiple: f64) -> u32 {
    let t = multiple.round();
    if t.is_nan() || t < 1.0 {
        1
    } else if t >= f64::from(MAX_T_COST) {
        MAX_T_COST
    } else {
        t as u32
    }
}

/// `memory * factor`, at least `min`, rounded down to whole MiB above 1 MiB
/// (numbers an operator can read).
fn scale_memory(memory: u32, factor: f64, min: u32) -> u32 {
    let scaled = (f64::from(memory) * factor.clamp(0.0, 1.0)) as u32;
    let rounded = if scaled > 1024 {
        scaled - scaled % 1024
    } else {
        scaled
    };
    rounded.max(min)
}

/// The median time of [`RUNS`] hashes of a fixed password with `params`.
pub fn measure(params: &HashParams) -> Result<Duration, CalibrationError> {
    let argon2_params = Params::new(
        params.m_cost_kib,
        params.t_cost,
        params.p_cost,
        Some(params.output_len),
    )
    .map_err(|e| CalibrationError::Argon2(e.to_string()))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params);
    let salt = [0x5a_u8; 16];
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = ThreadClock::now();
        argon2
            .hash_password_with_salt(b"calibration password", &salt)
            .map_err(|e| CalibrationError::Argon2(e.to_string()))?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[RUNS / 2])
}

/// The time spent by the calling thread: its CPU time on Linux (Argon2
/// computes on the calling thread, so this is the hash's own cost, however
/// busy the machine is), the wall clock elsewhere.
struct ThreadClock(Duration);

impl ThreadClock {
    fn now() -> Self {
        Self(Self::read())
    }

    fn elapsed(&self) -> Duration {
        Self::read().saturating_sub(self.0)
    }

    #[cfg(target_os = "linux")]
    fn read() -> Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
    }

    #[cfg(not(target_os = "linux"))]
    fn read() -> Duration {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed()
    }
}

/// Parse a memory size: a number of KiB, or a number with a unit (`K`,
/// `KiB`, `M`, `MiB`, `G`, `GiB`; binary units, case-insensitive).
pub fn parse_memory_kib(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected a size like 65536, 64M or 1G, got {text:?}"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "k" | "kib" | "kb" => 1,
        "m" | "mib" | "mb" => 1024,
        "g" | "gib" | "gb" => 1024 * 1024,
        _ => return Err(format!("unknown unit in {text:?}: use K, M or G")),
    };
    n.checked_mul(factor)
        .and_then(|kib| u32::try_from(kib).ok())
        .filter(|kib| *kib <= MAX_M_COST_KIB)
        .ok_or_else(|| format!("{text:?} is more than the largest allowed, 1G"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse() {
        assert_eq!(parse_memory_kib("65536"), Ok(65536));
        assert_eq!(parse_memory_kib("64M"), Ok(65536));
        assert_eq!(parse_memory_kib("64MiB"), Ok(65536));
        assert_eq!(parse_memory_kib("1g"), Ok(1024 * 1024));
        assert_eq!(parse_memory_kib(" 512k "), Ok(512));
        assert!(parse_memory_kib("2G").is_err());
        assert!(parse_memory_kib("lots").is_err());
        assert!(parse_memory_kib("12T").is_err());
        assert!(parse_memory_kib("99999999999999999999").is_err());
    }

    #[test]
    fn passes_and_memory_stay_in_bounds() {
        assert_eq!(passes_for(0.2), 1);
        assert_eq!(passes_for(f64::NAN), 1);
        assert_eq!(passes_for(3.4), 3);
        assert_eq!(passes_for(1e9), MAX_T_COST);
        assert_eq!(scale_memory(65536, 0.5, 32), 32768);
        assert_eq!(scale_memory(65536, 0.0, 32), 32);
        assert_eq!(scale_memory(5000, 0.5, 8), 2048);
    }

    #[test]
    fn bad_requests_are_refused() {
        let ok = CalibrationRequest {
            target: Duration::from_millis(5),
            max_memory_kib: 1024,
            parallelism: 1,
        };
        let bad = |r: CalibrationRequest| calibrate(&r).is_err();
        assert!(bad(CalibrationRequest {
            parallelism: 0,
            ..ok
        }));
        assert!(bad(CalibrationRequest {
            max_memory_kib: 16,
            parallelism: 4,
            ..ok
        }));
        assert!(bad(CalibrationRequest {
            target: Duration::ZERO,
            ..ok
        }));
    }

    #[test]
    fn a_small_target_is_met_within_a_factor() {
        let request = CalibrationRequest {
            target: Duration::from_millis(30),
            max_memory_kib: 4096,
            parallelism: 1,
        };
        let found = calibrate(&request).expect("calibrate");
        assert!(found.params.m_cost_kib <= 4096 && found.params.t_cost >= 1);
        let again = measure(&found.params).expect("measure");
        let ms = again.as_secs_f64() * 1000.0;
        assert!((10.0..=90.0).contains(&ms), "{found:?}: {ms} ms");
        assert!(found.checks_per_second(4, 2) > 0.0);
        assert_eq!(
            found.peak_memory_kib(2),
            u64::from(found.params.m_cost_kib) * 2
        );
    }
}
