//! What Redis did between two moments: commands (from `INFO commandstats`, which
//! in Redis 7 counts the commands a Lua script calls as well as the `EVALSHA`
//! itself — and so does `total_commands_processed`), script calls, bytes on the
//! wire, memory and Redis' own CPU.

use std::collections::BTreeMap;

use redis::aio::ConnectionManager;
use serde::Serialize;

use super::stats::{diff_counts, info_f64, parse_commandstats, parse_info};

/// A point-in-time reading of the server's counters.
#[derive(Debug, Clone, Default)]
pub struct RedisSnapshot {
    pub commands: BTreeMap<String, u64>,
    pub net_in: f64,
    pub net_out: f64,
    pub used_memory: f64,
    pub cpu_secs: f64,
}

/// The difference between two snapshots.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RedisDelta {
    /// Per command (script-internal calls included), sorted by calls, descending.
    pub commands: Vec<(String, u64)>,
    /// Sum of `commands` (script-internal calls included).
    pub all_calls: u64,
    /// Script invocations (`EVALSHA`/`EVAL`): each is one atomic step and one round trip.
    pub scripts: u64,
    pub net_bytes: u64,
    pub used_memory: i64,
    pub cpu_secs: f64,
}

/// Read every counter the benchmark needs.
pub async fn snapshot(conn: &mut ConnectionManager) -> Result<RedisSnapshot, redis::RedisError> {
    let cmdstats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    let info: String = redis::cmd("INFO").query_async(conn).await?;
    let info = parse_info(&info);
    Ok(RedisSnapshot {
        commands: parse_commandstats(&cmdstats),
        net_in: info_f64(&info, "total_net_input_bytes"),
        net_out: info_f64(&info, "total_net_output_bytes"),
        used_memory: info_f64(&info, "used_memory"),
        cpu_secs: info_f64(&info, "used_cpu_user") + info_f64(&info, "used_cpu_sys"),
    })
}

impl RedisDelta {
    /// `after − before`, less `own_calls` that the benchmark itself made (its
    /// progress polling), so the figures are the system under test's alone.
    pub fn between(
        before: &RedisSnapshot,
        after: &RedisSnapshot,
        own_calls: &BTreeMap<String, u64>,
    ) -> RedisDelta {
        let mut diff = diff_counts(&before.commands, &after.commands);
        // The two snapshot calls themselves (INFO commandstats + INFO) are in `after`.
        let mut own = own_calls.clone();
        *own.entry("info".into()).or_default() += 2;
        for (k, n) in &own {
            if let Some(v) = diff.get_mut(k) {
                *v -= (*n).min(*v);
            }
        }
        diff.retain(|_, v| *v > 0);
        let mut commands: Vec<(String, u64)> = diff.into_iter().collect();
        commands.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let all_calls = commands.iter().map(|(_, n)| n).sum();
        let scripts = commands
            .iter()
            .filter(|(k, _)| k == "evalsha" || k == "eval")
            .map(|(_, n)| n)
            .sum();
        RedisDelta {
            commands,
            all_calls,
            scripts,
            net_bytes: ((after.net_in + after.net_out) - (before.net_in + before.net_out)).max(0.0)
                as u64,
            used_memory: (after.used_memory - before.used_memory) as i64,
            cpu_secs: (after.cpu_secs - before.cpu_secs).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_subtracts_own_polling() {
        let before = RedisSnapshot {
            commands: [("scard".to_owned(), 5), ("info".to_owned(), 10)]
                .into_iter()
                .collect(),
            net_in: 10.0,
            net_out: 20.0,
            used_memory: 1000.0,
            cpu_secs: 1.0,
        };
        let after = RedisSnapshot {
            commands: [
                ("scard".to_owned(), 25),
                ("info".to_owned(), 12),
                ("evalsha".to_owned(), 7),
                ("hset".to_owned(), 14),
            ]
            .into_iter()
            .collect(),
            net_in: 110.0,
            net_out: 220.0,
            used_memory: 900.0,
            cpu_secs: 1.5,
        };
        let own = [("scard".to_owned(), 20)].into_iter().collect();
        let d = RedisDelta::between(&before, &after, &own);
        assert_eq!(
            d.commands,
            vec![("hset".to_owned(), 14), ("evalsha".to_owned(), 7)]
        );
        assert_eq!(d.all_calls, 21);
        assert_eq!(d.scripts, 7);
        assert_eq!(d.net_bytes, 300);
        assert_eq!(d.used_memory, -100);
        assert!((d.cpu_secs - 0.5).abs() < 1e-9);
    }
}
