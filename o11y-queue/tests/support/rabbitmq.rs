//! Faults made to the RabbitMQ broker itself, through `rabbitmqctl`, each
//! undone by a drop guard: the app stopped ([`AppStopped`]) and a memory
//! alarm ([`MemoryAlarm`]). Every call is bounded in time.
//!
//! These disturb every client of the broker: a test binary that uses them
//! runs its broker tests one at a time.

use std::process::Command;

/// Runs `rabbitmqctl args`, killed past `limit_s` seconds (coreutils
/// `timeout`): its standard output, or what went wrong.
pub fn ctl(args: &[&str], limit_s: u32) -> Result<String, String> {
    let out = Command::new("timeout")
        .args(["--kill-after=5", &limit_s.to_string(), "rabbitmqctl"])
        .args(args)
        .output()
        .map_err(|e| format!("rabbitmqctl {args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("rabbitmqctl {args:?} (limit {limit_s} s): {out:?}"))
    }
}

/// The RabbitMQ application stopped (`rabbitmqctl stop_app`): every
/// connection closed, the port shut, the Erlang node and the queues on disk
/// kept. Started again when dropped (`start_app`, then `await_startup`),
/// whatever happened in between.
#[must_use = "the app is started again when this is dropped"]
pub struct AppStopped(());

impl AppStopped {
    /// Stops the app. The guard exists before the stop: a stop that fails
    /// half-way is undone too.
    pub fn stop() -> Self {
        let stopped = Self(());
        ctl(&["stop_app"], 60).expect("rabbitmqctl stop_app");
        stopped
    }
}

impl Drop for AppStopped {
    fn drop(&mut self) {
        let started =
            ctl(&["start_app"], 120).and_then(|_| ctl(&["await_startup", "--timeout", "120"], 130));
        if let Err(e) = started {
            // Past the test harness's capture: the broker is down for everyone.
            let line = format!("RABBITMQ NOT RESTORED (run `rabbitmqctl start_app`): {e}\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        }
    }
}

/// A memory alarm: the high watermark set to 1 byte, so the broker blocks
/// every connection that publishes (it stops reading from it) until the
/// alarm clears. The watermark it had is set back when dropped.
#[must_use = "the watermark is set back when this is dropped"]
pub struct MemoryAlarm {
    restore: Vec<String>,
}

impl MemoryAlarm {
    /// Sets the watermark to 1 byte and waits (bounded) for the alarm.
    pub fn raise() -> Self {
        let was = ctl(
            &["eval", "vm_memory_monitor:get_vm_memory_high_watermark()."],
            30,
        )
        .expect("the current watermark");
        let alarm = Self {
            restore: watermark_args(&was),
        };
        ctl(&["set_vm_memory_high_watermark", "absolute", "1"], 30).expect("watermark set");
        alarm
    }
}

impl Drop for MemoryAlarm {
    fn drop(&mut self) {
        let mut args = vec!["set_vm_memory_high_watermark"];
        args.extend(self.restore.iter().map(String::as_str));
        if let Err(e) = ctl(&args, 30) {
            let line =
                format!("RABBITMQ WATERMARK NOT RESTORED (run `rabbitmqctl {args:?}`): {e}\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        }
    }
}

/// Whether the broker has a memory alarm on now.
pub fn memory_alarm_on() -> bool {
    ctl(&["eval", "rabbit_alarm:get_alarms()."], 30).is_ok_and(|said| said.contains("memory"))
}

/// The arguments of `set_vm_memory_high_watermark` that set back what
/// `get_vm_memory_high_watermark()` said: `0.4` or `{absolute,1073741824}`;
/// the default, 0.4, when it said something else.
fn watermark_args(said: &str) -> Vec<String> {
    let said = said.trim();
    if let Some(bytes) = said
        .strip_prefix("{absolute,")
        .and_then(|rest| rest.strip_suffix('}'))
    {
        return vec![
            "absolute".to_owned(),
            bytes.trim().trim_matches('"').to_owned(),
        ];
    }
    match said.parse::<f64>() {
        Ok(fraction) if fraction > 0.0 => vec![said.to_owned()],
        _ => vec!["0.4".to_owned()],
    }
}
