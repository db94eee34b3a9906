//! `hearth import-nakama`: moves a Nakama database's accounts, devices, login identifiers,
//! password hashes, bans and friend edges into Hearth's store under the same user ids.
//!
//! Three passes over the source, in key order and in batches: (1) every account is checked
//! against Hearth and nothing is written, so conflicts stop the run before any write;
//! (2) accounts with their devices, a transaction per batch; (3) friend edges, a transaction
//! per batch (after every account, as an edge names two). An account already in Hearth with
//! the same id and username is one a previous run imported: it is left as it is, so a run
//! killed half-way is resumed by running again.

pub mod nakama;

use std::collections::HashSet;
use std::fmt;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use uuid::Uuid;

use crate::store::{identifier_columns, Clashes, ImportedAccount, Store};
use nakama::{Source, KNOWN_SCHEMA, SYSTEM_USER};

/// What to do with an account that conflicts with one already in Hearth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnConflict {
    /// Report every conflict and write nothing.
    Stop,
    /// Leave the conflicting accounts (and their edges) out, import the rest.
    Skip,
}

#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The Nakama database's PostgreSQL URL.
    pub from: String,
    /// Read and check everything, write nothing.
    pub dry_run: bool,
    /// Accounts (or edges) per batch and transaction.
    pub batch: u64,
    pub on_conflict: OnConflict,
    /// Draw the progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

pub const DEFAULT_BATCH: u64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The source URL is wrong or the server does not answer (one line).
    #[error("{0}")]
    Unreachable(String),
    /// A table or column the import reads is missing (exit code 2).
    #[error("{0}")]
    Schema(String),
    #[error("reading the Nakama database failed: {0}")]
    Source(String),
    #[error("writing into Hearth failed after {written} accounts of this run: {cause}")]
    Store { written: u64, cause: String },
}

impl ImportError {
    /// The process exit code: 2 for a source that is not the schema described, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            ImportError::Schema(_) => 2,
            _ => 1,
        }
    }
}

/// Why an account cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConflictReason {
    /// A Hearth account with another username has this id.
    SameId,
    UsernameInUse,
    /// Another Hearth account holds this identifier (`users` column name, or `device`).
    IdentifierInUse(&'static str),
}

impl fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConflictReason::SameId => f.write_str("its id belongs to another Hearth account"),
            ConflictReason::UsernameInUse => f.write_str("its username is in use in Hearth"),
            ConflictReason::IdentifierInUse(what) => write!(f, "its {what} is in use by another Hearth account"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub id: Uuid,
    pub username: String,
    pub reason: ConflictReason,
}

/// What a run did (or, in a dry run or after conflicts, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub dry_run: bool,
    /// The newest applied Nakama migration.
    pub schema: Option<String>,
    pub warnings: Vec<String>,
    /// Accounts imported (in a dry run: to import), with their devices.
    pub accounts: u64,
    pub devices: u64,
    pub edges: u64,
    /// Accounts a previous run imported (same id and username): left alone.
    pub accounts_already_imported: u64,
    pub edges_already_imported: u64,
    /// 1 when the source has Nakama's system user, which is never imported.
    pub system_user: u64,
    /// Edges from or to an account left out by a conflict.
    pub edges_of_skipped_accounts: u64,
    /// Deleted accounts Nakama remembers: Hearth keeps no tombstones.
    pub tombstones: u64,
    pub conflicts: Vec<Conflict>,
    /// Conflicts without `--on-conflict skip`: nothing was written.
    pub stopped: bool,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run || self.stopped { "to import" } else { "imported" };
        let head = match (self.stopped, self.dry_run) {
            (true, _) => "stopped on conflicts: nothing was written (--on-conflict skip imports the rest)",
            (false, true) => "dry run: nothing was written",
            (false, false) => "done",
        };
        writeln!(f, "import-nakama: {head}")?;
        if let Some(schema) = &self.schema {
            writeln!(f, "  Nakama schema: {schema}")?;
        }
        for warning in &self.warnings {
            writeln!(f, "  warning: {warning}")?;
        }
        writeln!(f, "  {verb}: {} accounts, {} devices, {} friend edges", self.accounts, self.devices, self.edges)?;
        writeln!(f, "  skipped:")?;
        writeln!(f, "    {} system user (never an account)", self.system_user)?;
        writeln!(
            f,
            "    {} accounts and {} edges already imported (left as they are)",
            self.accounts_already_imported, self.edges_already_imported
        )?;
        writeln!(f, "    {} edges of accounts left out by a conflict", self.edges_of_skipped_accounts)?;
        writeln!(f, "    {} tombstones (Hearth keeps none)", self.tombstones)?;
        writeln!(f, "  conflicts: {}", self.conflicts.len())?;
        for c in &self.conflicts {
            writeln!(f, "    {} ({}): {}", c.id, c.username, c.reason)?;
        }
        Ok(())
    }
}

/// Runs the import from `options.from` into `store`.
pub async fn run(store: &Store, options: &ImportOptions) -> Result<Report, ImportError> {
    let source = Source::connect(&options.from).await?;
    let result = run_from(&source, store, options).await;
    source.close().await;
    result
}

enum Found {
    New,
    AlreadyImported,
    Conflict(ConflictReason),
}

fn classify(account: &ImportedAccount, clashes: &Clashes) -> Found {
    let user = &account.user;
    if let Some(existing) = clashes.users.iter().find(|h| h.id == user.id) {
        return if existing.username == user.username {
            Found::AlreadyImported
        } else {
            Found::Conflict(ConflictReason::SameId)
        };
    }
    if clashes.users.iter().any(|h| h.username == user.username) {
        return Found::Conflict(ConflictReason::UsernameInUse);
    }
    for (_, name, value) in identifier_columns() {
        if let Some(mine) = value(user) {
            if clashes.users.iter().any(|h| value(h).as_ref() == Some(mine)) {
                return Found::Conflict(ConflictReason::IdentifierInUse(name));
            }
        }
    }
    if account.devices.iter().any(|d| clashes.devices.iter().any(|(id, _)| id == d)) {
        return Found::Conflict(ConflictReason::IdentifierInUse("device"));
    }
    Found::New
}

fn progress_bar(shown: bool, len: u64, message: &'static str) -> ProgressBar {
    let target = if shown { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:18} [{bar:30}] {human_pos}/{human_len} rows  {per_sec}  ETA {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

async fn run_from(source: &Source, store: &Store, options: &ImportOptions) -> Result<Report, ImportError> {
    let batch = options.batch.max(1);
    let newest = source.check_schema().await?;
    let mut report = Report { dry_run: options.dry_run, ..Report::default() };
    match newest.as_deref() {
        Some(KNOWN_SCHEMA) => {}
        Some(other) => report.warnings.push(format!(
            "the Nakama schema is at migration {other}, not {KNOWN_SCHEMA} (Nakama 3.40.0) this import was \
             written for; every table and column it reads is there, but check the result"
        )),
        None => report.warnings.push("migration_info is empty: the Nakama schema version is unknown".into()),
    }
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    report.schema = newest;
    let counts = source.counts().await?;
    report.tombstones = counts.tombstones;
    report.system_user = counts.system_user;

    // Pass 1: check every account; write nothing.
    let mut left_out: HashSet<Uuid> = HashSet::from([SYSTEM_USER]);
    let bar = progress_bar(options.progress, counts.users, "checking accounts");
    let mut after = SYSTEM_USER;
    loop {
        let accounts = source.accounts_after(after, batch).await?;
        let Some(last) = accounts.last() else { break };
        after = last.user.id;
        let clashes = store.import_clashes(&accounts).await.map_err(store_error(0))?;
        for account in &accounts {
            match classify(account, &clashes) {
                Found::New => {
                    report.accounts += 1;
                    report.devices += account.devices.len() as u64;
                }
                Found::AlreadyImported => report.accounts_already_imported += 1,
                Found::Conflict(reason) => {
                    left_out.insert(account.user.id);
                    let (id, username) = (account.user.id, account.user.username.clone());
                    report.conflicts.push(Conflict { id, username, reason });
                }
            }
        }
        bar.inc(accounts.len() as u64);
    }
    bar.finish_and_clear();
    if !report.conflicts.is_empty() && options.on_conflict == OnConflict::Stop {
        report.stopped = true;
        return Ok(report);
    }
    if options.dry_run {
        report.edges = source_edges(source, batch, &left_out, &mut report).await?;
        return Ok(report);
    }

    // Pass 2: accounts and devices, a transaction per batch.
    let (planned_accounts, planned_devices) = (report.accounts, report.devices);
    report.accounts = 0;
    report.devices = 0;
    let bar = progress_bar(options.progress, counts.users + counts.edges, "importing");
    let mut after = SYSTEM_USER;
    loop {
        let accounts = source.accounts_after(after, batch).await?;
        let Some(last) = accounts.last() else { break };
        after = last.user.id;
        let clashes = store.import_clashes(&accounts).await.map_err(store_error(report.accounts))?;
        let mut new = Vec::new();
        for account in &accounts {
            if left_out.contains(&account.user.id) {
                continue;
            }
            match classify(account, &clashes) {
                Found::New => new.push(account.clone()),
                Found::AlreadyImported => {}
                // Made in Hearth since pass 1 (a server writing meanwhile): left out too.
                Found::Conflict(reason) => {
                    left_out.insert(account.user.id);
                    let (id, username) = (account.user.id, account.user.username.clone());
                    report.conflicts.push(Conflict { id, username, reason });
                }
            }
        }
        store.import_accounts(&new).await.map_err(store_error(report.accounts))?;
        report.accounts += new.len() as u64;
        report.devices += new.iter().map(|a| a.devices.len() as u64).sum::<u64>();
        bar.inc(accounts.len() as u64);
    }
    if report.accounts != planned_accounts || report.devices != planned_devices {
        tracing::warn!(planned_accounts, imported = report.accounts, "Hearth changed while the import ran");
    }

    // Pass 3: friend edges, a transaction per batch.
    let mut after = (SYSTEM_USER, SYSTEM_USER);
    loop {
        let edges = source.edges_after(after, batch).await?;
        let Some(last) = edges.last() else { break };
        after = (last.source_id, last.destination_id);
        let (kept, dropped): (Vec<_>, Vec<_>) = edges
            .iter()
            .cloned()
            .partition(|e| !left_out.contains(&e.source_id) && !left_out.contains(&e.destination_id));
        report.edges_of_skipped_accounts += dropped.len() as u64;
        let inserted = store.import_edges(&kept).await.map_err(store_error(report.accounts))?;
        report.edges += inserted;
        report.edges_already_imported += kept.len() as u64 - inserted;
        bar.inc(edges.len() as u64);
    }
    bar.finish_and_clear();
    Ok(report)
}

/// Dry run: the edges an import would consider (one a previous run imported counts too:
/// telling it apart would take a lookup per edge).
async fn source_edges(
    source: &Source,
    batch: u64,
    left_out: &HashSet<Uuid>,
    report: &mut Report,
) -> Result<u64, ImportError> {
    let mut new = 0;
    let mut after = (SYSTEM_USER, SYSTEM_USER);
    loop {
        let edges = source.edges_after(after, batch).await?;
        let Some(last) = edges.last() else { break };
        after = (last.source_id, last.destination_id);
        for edge in &edges {
            if left_out.contains(&edge.source_id) || left_out.contains(&edge.destination_id) {
                report.edges_of_skipped_accounts += 1;
            } else {
                new += 1;
            }
        }
    }
    Ok(new)
}

fn store_error(written: u64) -> impl Fn(sea_orm::DbErr) -> ImportError {
    move |e| ImportError::Store { written, cause: e.to_string() }
}
