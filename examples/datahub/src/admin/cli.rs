//! `datahub admin …`: a command-line client of the `Admin` service that prints tables.

use std::fmt::Write;

use clap::Subcommand;

use super::messages::{
    AddShard, Concurrency, EventId, HotRequest, Job, JobId, Lineage, ListenerStates,
    ListenerTarget, LogGroup, MoveJob, MoveRequest, PartitionMap, ReplayRequest, SeekPosition,
    SeekRequest,
};
use crate::AdminClient;
use crate::model::{Domain, Empty};

/// What to ask the admin.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Every listener's partitions (lag, paused and why) and groups, and the pauses.
    Listeners,
    /// Pause a group, or one partition of it (`--partition`).
    Pause {
        /// `member` or `seller`.
        group: String,
        /// One log partition.
        #[arg(long)]
        partition: Option<u32>,
        /// Why.
        #[arg(long, default_value = "paused from the command line")]
        reason: String,
    },
    /// Resume a group or a partition.
    Resume {
        /// `member` or `seller`.
        group: String,
        /// One log partition.
        #[arg(long)]
        partition: Option<u32>,
    },
    /// Set a group's concurrency (batches written at once per listener).
    Concurrency {
        /// `member` or `seller`.
        group: String,
        /// 1 to the partition count.
        n: u32,
    },
    /// Move a group's or a partition's position: `beginning`, `end`, an offset, or
    /// `@UNIX_MS` for a time.
    Seek {
        /// `member` or `seller`.
        group: String,
        /// Where to.
        to: String,
        /// One log partition.
        #[arg(long)]
        partition: Option<u32>,
    },
    /// Re-apply a domain's events whose keys are in a range.
    Replay {
        /// `member` or `seller`.
        group: String,
        /// Only this domain.
        #[arg(long)]
        domain: Option<Domain>,
        /// Keys from (inclusive).
        #[arg(long, default_value = "")]
        from: String,
        /// Keys to (exclusive).
        #[arg(long, default_value = "")]
        to: String,
        /// Events logged at or after (Unix ms).
        #[arg(long, default_value_t = 0)]
        since_ms: i64,
    },
    /// A seek's or a replay's progress.
    Job {
        /// Its id.
        id: u64,
    },
    /// The shards and the partitions placed away from their initial shard.
    Map,
    /// The hottest partitions, the skew and a suggested move.
    Hot {
        /// Over this many seconds.
        #[arg(long, default_value_t = 10)]
        window: u32,
        /// How many.
        #[arg(long, default_value_t = 10)]
        top: u32,
    },
    /// Add a shard (`sqlite:PATH` or `postgres://…`).
    AddShard {
        /// Its URL.
        url: String,
    },
    /// Move a logical partition to a shard (`--dry-run`: only plan).
    Move {
        /// `member` or `seller`.
        group: String,
        /// The logical partition (0 to 1023).
        lp: u32,
        /// The target shard.
        to: u32,
        /// Only plan.
        #[arg(long)]
        dry_run: bool,
        /// Backfill budget (rows/s).
        #[arg(long, default_value_t = 0)]
        rows_per_s: u32,
    },
    /// A move's state.
    MoveStatus {
        /// Its id.
        id: u64,
    },
    /// End a switched move's grace period now.
    CompleteMove {
        /// Its id.
        id: u64,
    },
    /// One event's path through the hub.
    Lineage {
        /// The event id it was published with.
        event_id: String,
    },
}

fn group(name: &str) -> Result<LogGroup, String> {
    match name {
        "member" => Ok(LogGroup::Member),
        "seller" => Ok(LogGroup::Seller),
        _ => Err(format!("unknown group `{name}` (member, seller)")),
    }
}

fn group_name(g: LogGroup) -> &'static str {
    match g {
        LogGroup::Member => "member",
        LogGroup::Seller => "seller",
        LogGroup::Unspecified => "?",
    }
}

/// Runs `command` against `client`; returns the table to print.
pub async fn run(client: &AdminClient, command: AdminCommand) -> Result<String, String> {
    let e = |e: arpc::Status| format!("{:?}: {}", e.code(), e.message());
    let target = |g: &str, partition, reason: String| -> Result<ListenerTarget, String> {
        Ok(ListenerTarget {
            group: group(g)?,
            partition,
            reason,
        })
    };
    Ok(match command {
        AdminCommand::Listeners => listeners(&client.listeners(Empty {}).await.map_err(e)?),
        AdminCommand::Pause {
            group,
            partition,
            reason,
        } => listeners(
            &client
                .pause(target(&group, partition, reason)?)
                .await
                .map_err(e)?,
        ),
        AdminCommand::Resume { group, partition } => listeners(
            &client
                .resume(target(&group, partition, String::new())?)
                .await
                .map_err(e)?,
        ),
        AdminCommand::Concurrency { group: g, n } => listeners(
            &client
                .set_concurrency(Concurrency {
                    group: group(&g)?,
                    concurrency: n,
                })
                .await
                .map_err(e)?,
        ),
        AdminCommand::Seek {
            group,
            to,
            partition,
        } => {
            let to = match to.as_str() {
                "beginning" => SeekPosition::Beginning,
                "end" => SeekPosition::End,
                t => match t.strip_prefix('@') {
                    Some(ms) => SeekPosition::TimestampMs(
                        ms.parse().map_err(|_| format!("bad time `{t}`"))?,
                    ),
                    None => {
                        SeekPosition::Offset(t.parse().map_err(|_| format!("bad offset `{t}`"))?)
                    }
                },
            };
            job(&client
                .seek(SeekRequest {
                    target: target(&group, partition, String::new())?,
                    to,
                })
                .await
                .map_err(e)?)
        }
        AdminCommand::Replay {
            group: g,
            domain,
            from,
            to,
            since_ms,
        } => job(&client
            .replay(ReplayRequest {
                group: group(&g)?,
                domain: domain.unwrap_or_default(),
                key_from: from,
                key_to: to,
                since_ms,
            })
            .await
            .map_err(e)?),
        AdminCommand::Job { id } => job(&client.job(JobId { id }).await.map_err(e)?),
        AdminCommand::Map => map(&client.partition_map(Empty {}).await.map_err(e)?),
        AdminCommand::Hot { window, top } => {
            let hot = client
                .hot_partitions(HotRequest {
                    window_s: window,
                    top,
                })
                .await
                .map_err(e)?;
            let mut out = format!(
                "window {:.0} s, skew {:.1}×\n{:<8} {:>5} {:>12} {:>7}\n",
                hot.window_s, hot.skew, "group", "lp", "writes/s", "share"
            );
            for h in &hot.entries {
                let _ = writeln!(
                    out,
                    "{:<8} {:>5} {:>12.0} {:>6.1}%",
                    group_name(h.group),
                    h.lp,
                    h.writes_per_s,
                    h.share * 100.0
                );
            }
            let load: Vec<String> = hot.shard_load.iter().map(|l| format!("{l:.0}")).collect();
            let _ = writeln!(out, "rows/s per shard: {}", load.join(", "));
            match hot.suggestion {
                Some(s) => {
                    let _ = writeln!(
                        out,
                        "suggested: move {} {} from shard {} to {} (busiest shard {:.0} → {:.0} rows/s)",
                        group_name(s.group),
                        s.lp,
                        s.from,
                        s.to.map_or("a new shard".to_owned(), |t| format!("shard {t}")),
                        s.max_load_now,
                        s.max_load_after
                    );
                }
                None => out.push_str("suggested: nothing (no move would help)\n"),
            }
            out
        }
        AdminCommand::AddShard { url } => {
            map(&client.add_shard(AddShard { url }).await.map_err(e)?)
        }
        AdminCommand::Move {
            group: g,
            lp,
            to,
            dry_run,
            rows_per_s,
        } => move_job(
            &client
                .move_partition(MoveRequest {
                    group: group(&g)?,
                    lp,
                    to_shard: to,
                    dry_run,
                    rows_per_s,
                    grace_ms: 0,
                })
                .await
                .map_err(e)?,
        ),
        AdminCommand::MoveStatus { id } => {
            move_job(&client.move_status(JobId { id }).await.map_err(e)?)
        }
        AdminCommand::CompleteMove { id } => {
            move_job(&client.complete_move(JobId { id }).await.map_err(e)?)
        }
        AdminCommand::Lineage { event_id } => {
            lineage(&client.lineage(EventId { event_id }).await.map_err(e)?)
        }
    })
}

/// Runs `command` against a scaled-out hub's `Admin` instances: most commands on the first
/// that answers (they read or edit the shared directory); `lineage` on each until one knows
/// the event (an event's lineage is kept by the listener process that applied it).
pub async fn run_any(clients: &[AdminClient], command: AdminCommand) -> Result<String, String> {
    let e = |e: arpc::Status| format!("{:?}: {}", e.code(), e.message());
    if let AdminCommand::Lineage { event_id } = &command {
        let mut last = Err(format!("{event_id}: no Admin instance answered"));
        for client in clients {
            let request = EventId {
                event_id: event_id.clone(),
            };
            match client.lineage(request).await {
                Ok(l) if l.found => return Ok(lineage(&l)),
                Ok(l) => last = Ok(lineage(&l)),
                Err(status) => {
                    if last.is_err() {
                        last = Err(e(status));
                    }
                }
            }
        }
        return last;
    }
    let mut last = String::from("no Admin instance");
    for client in clients {
        match run(client, command.clone()).await {
            Ok(table) => return Ok(table),
            // Gone since it was listed: ask the next.
            Err(e) if e.starts_with("Unavailable") => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn listeners(s: &ListenerStates) -> String {
    let mut out = format!(
        "{:<22} {:<8} {:>4} {:>10} {:>10} {:>8}  {}\n",
        "listener", "group", "part", "committed", "end", "lag", "state"
    );
    for p in &s.partitions {
        let state = match (&p.paused, &p.stalled, p.backpressure) {
            (Some(why), _, _) => format!("paused: {why}"),
            (None, Some(why), _) => format!("stalled: {why}"),
            (None, None, true) => "backpressure".to_owned(),
            (None, None, false) => "running".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<22} {:<8} {:>4} {:>10} {:>10} {:>8}  {state}",
            p.listener,
            group_name(p.group),
            p.partition,
            p.committed,
            p.end,
            p.lag
        );
    }
    for g in &s.groups {
        let _ = writeln!(
            out,
            "{} {}: concurrency {}, {} in flight",
            g.listener,
            group_name(g.group),
            g.concurrency,
            g.in_flight
        );
    }
    for p in &s.pauses {
        let _ = writeln!(out, "pause {}: {}", p.target, p.reason);
    }
    out
}

fn map(m: &PartitionMap) -> String {
    let mut out = format!(
        "directory version {}, {} initial shards\n{:>5} {:>10}  url\n",
        m.version, m.initial_shards, "shard", "partitions"
    );
    for s in &m.shards {
        let _ = writeln!(out, "{:>5} {:>10}  {}", s.id, s.partitions, s.url);
    }
    for p in &m.moved {
        let _ = writeln!(
            out,
            "{} {} → shard {} (epoch {}, {})",
            group_name(p.group),
            p.lp,
            p.shard,
            p.epoch,
            p.state
        );
    }
    out
}

fn job(j: &Job) -> String {
    format!(
        "{} {}: {}; {} matched, {} re-applied, {} unchanged\n",
        j.kind,
        j.id,
        if j.done { "done" } else { "running" },
        j.matched,
        j.reapplied,
        j.unchanged
    )
}

fn move_job(j: &MoveJob) -> String {
    let mut out = format!(
        "move {} of {} {}: shard {} → {}, {}; {} rows",
        j.id,
        group_name(j.group),
        j.lp,
        j.from,
        j.to,
        j.phase,
        j.rows
    );
    if j.phase == "planned" {
        let _ = write!(out, ", about {:.1} s to copy", j.estimated_copy_s);
    }
    if let Some(p) = j.pause_ms {
        let _ = write!(out, ", write pause {p:.1} ms");
    }
    if let Some(err) = &j.error {
        let _ = write!(out, " ({err})");
    }
    out.push('\n');
    out
}

fn lineage(l: &Lineage) -> String {
    if !l.found {
        return format!("{}: not among this hub's recent events\n", l.event_id);
    }
    let mut out = format!(
        "{}: {}/{} offset {}, {} on shard {} at version {}\n",
        l.event_id,
        group_name(l.group),
        l.log_partition,
        l.offset,
        l.outcome,
        l.shard,
        l.version
    );
    let first = l.stages.first().map_or(0, |s| s.at_ms);
    for s in &l.stages {
        let _ = writeln!(
            out,
            "  {:<10} {} (+{} ms)",
            s.stage,
            s.at_ms,
            s.at_ms - first
        );
    }
    out
}
