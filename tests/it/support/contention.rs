//! DynamoDB's contention rules, as pure logic (no I/O, the time passed in): the model that
//! [`super::ddb_model`] puts in front of the local DynamoDB, which runs transactions one at a
//! time and never refuses one.
//!
//! The rules, from `../shared/spec/aws.md` (AWS Developer Guide, "Amazon DynamoDB
//! Transactions: how it works", "Transaction conflict handling", "Capacity management for
//! transactions"; "Burst and adaptive capacity"; "Throttling: key range limit exceeded"):
//! - a `TransactWriteItems` holds every item it names (table + key) while it runs; another
//!   transaction naming a held item is cancelled (`TransactionCanceledException`), with
//!   the reason `TransactionConflict` on each held item and `None` on the others, in the
//!   order of its actions. Nothing is queued.
//! - a single `PutItem`/`UpdateItem`/`DeleteItem` on a held item fails with
//!   `TransactionConflictException`.
//! - one partition key value (an account: `OA#{app}#{oa}`) takes at most
//!   [`ModelConfig::partition_write_units_per_second`] (1000) write units and
//!   [`ModelConfig::partition_read_units_per_second`] (3000) read units a second, a token
//!   bucket per key value holding at most a second's units (or
//!   [`ModelConfig::partition_bucket_min_units`], so that a bench's low ceiling still takes
//!   one full transaction). Past it a single write or read is throttled
//!   (`ProvisionedThroughputExceededException`, reason `TableWriteKeyRangeThroughputExceeded`)
//!   and a transaction is cancelled with `ThrottlingError` on the items over it, counted in
//!   the action's order. A throttled request is charged nothing; a write refused by its
//!   condition (which the upstream engine decides) is charged in full (aws.md).
//! - one item takes at most [`ModelConfig::item_write_units_per_second`] (1000) write units
//!   in any one-second window. A transactional write costs 2 units per KB of the item (prepare
//!   and commit), a plain write 1 per KB, rounded up. Past the limit a single write is
//!   throttled (`ProvisionedThroughputExceededException`, reason
//!   `TableWriteKeyRangeThroughputExceeded`) and a transaction is cancelled with
//!   `ThrottlingError` on the item over the limit ("insufficient provisioned capacity for
//!   the transaction to be completed", API reference of `TransactionCanceledException`).
//!
//! Approximations, chosen to stay on the cheap side, so that a figure measured through the
//! model is a lower bound of the real one:
//! - an item's size is that of what the request carries: a `Put`'s whole item; an
//!   `Update`'s key plus its expression's values and names (DynamoDB charges the larger of
//!   the item before and after, which the model does not read); a `Delete`'s or
//!   `ConditionCheck`'s key. Sizes follow "Item sizes and formats": names and strings in
//!   UTF-8 bytes, numbers about one byte per two digits plus one, 3 bytes per list/map plus
//!   one per element.
//! - a request refused by the model consumes no units; one the upstream engine refuses (a
//!   condition check) consumes them, counted apart as refused.
//! - global secondary indexes cost nothing extra; a read costs one unit per 4 KB of the
//!   keys it names (half with eventual consistency), whatever the items' size; a `Query`'s
//!   reads are not limited.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The model's settings.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// How long a transaction holds its items: from the moment the model admits it until
    /// this long after (or until the local DynamoDB answers, if that is later). aws.md: typically
    /// 10-25 ms, an assumption to measure with a range. Default 15 ms.
    pub transaction_time: Duration,
    /// The least time any other call takes (reads, single writes, refusals), added to
    /// the local DynamoDB's own. Default zero: tests run at the local DynamoDB's speed; the
    /// benchmark sets a few milliseconds.
    pub call_time: Duration,
    /// Write units one item takes in any one second. Default 1000 (aws.md).
    pub item_write_units_per_second: u32,
    /// Write units one partition key value takes a second. Default 1000 (aws.md).
    pub partition_write_units_per_second: u32,
    /// Read units one partition key value takes a second. Default 3000 (aws.md).
    pub partition_read_units_per_second: u32,
    /// The least a partition's write bucket holds, in units: a bench that scales the
    /// ceiling below one full transaction (99 items and the counter: 200 units) keeps this
    /// at 200 or more, or no full transaction could ever pass. Default 0 (a second's units).
    pub partition_bucket_min_units: u32,
    /// The table's key attributes: an item is named by its table and these. Default
    /// `pk`, `sk` (docs/contract.md section 3, src/store/schema.rs).
    pub key_attributes: Vec<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            transaction_time: Duration::from_millis(15),
            call_time: Duration::ZERO,
            item_write_units_per_second: 1000,
            partition_write_units_per_second: 1000,
            partition_read_units_per_second: 3000,
            partition_bucket_min_units: 0,
            key_attributes: vec!["pk".to_owned(), "sk".to_owned()],
        }
    }
}

/// One item of one table: the table's name and the item's key attributes as compact JSON
/// in DynamoDB's wire form (`{"pk":{"S":"..."},"sk":{"S":"..."}}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ItemKey {
    pub table: String,
    pub key: String,
    /// The partition key attribute's value (the first key attribute) in wire form.
    pub partition: String,
}

/// One partition key value of one table: the table's name and the first key attribute's
/// value in wire form (`{"S":"OA#1#a"}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PartitionKey {
    pub table: String,
    pub value: String,
}

impl ItemKey {
    /// The key of `item` (an item or a `Key` map in wire form) in `table`; `None` when a key
    /// attribute is missing.
    pub fn of(
        table: &str,
        item: &Map<String, Value>,
        key_attributes: &[String],
    ) -> Option<ItemKey> {
        let mut key = Map::new();
        for name in key_attributes {
            key.insert(name.clone(), item.get(name)?.clone());
        }
        let partition = item.get(key_attributes.first()?)?.to_string();
        Some(ItemKey {
            table: table.to_owned(),
            key: Value::Object(key).to_string(),
            partition,
        })
    }

    /// The item's partition (always known: kept an `Option` for the callers' ease).
    pub fn partition(&self) -> Option<PartitionKey> {
        Some(PartitionKey {
            table: self.table.clone(),
            value: self.partition.clone(),
        })
    }
}

/// One item a request writes and the bytes it is charged for (see the module's
/// approximations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemWrite {
    pub item: ItemKey,
    pub bytes: usize,
}

/// How DynamoDB charges a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// Inside `TransactWriteItems`: 2 units per KB.
    Transactional,
    /// `PutItem`, `UpdateItem`, `DeleteItem`, `BatchWriteItem`: 1 unit per KB.
    Plain,
}

impl WriteKind {
    /// Write units for an item of `bytes` bytes, per KB rounded up (at least one KB).
    pub fn units(self, bytes: usize) -> u32 {
        let kb = bytes.div_ceil(1024).max(1);
        let per_kb = match self {
            WriteKind::Transactional => 2,
            WriteKind::Plain => 1,
        };
        u32::try_from(kb).unwrap_or(u32::MAX).saturating_mul(per_kb)
    }
}

/// Why one action of a cancelled transaction was refused (`CancellationReasons[i].Code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancellationCode {
    /// This action was not the cause.
    None,
    /// Another transaction holds this item.
    TransactionConflict,
    /// This item is over its write units for the second.
    ThrottlingError,
}

impl CancellationCode {
    /// The code as DynamoDB writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CancellationCode::None => "None",
            CancellationCode::TransactionConflict => "TransactionConflict",
            CancellationCode::ThrottlingError => "ThrottlingError",
        }
    }
}

/// Identifies the items one admitted transaction holds, to release them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HoldId(u64);

/// What the model answers to a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionVerdict {
    /// Runs; its items are held until [`Rules::release`].
    Admitted(HoldId),
    /// Refused: one code per action, in the request's order.
    Cancelled(Vec<CancellationCode>),
}

/// What the model answers to a single write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteVerdict {
    /// Goes on, charged this many units (refunded to "refused" if its condition fails).
    Admitted(u32),
    /// The item is held by a transaction: `TransactionConflictException`.
    TransactionConflict,
    /// The item or its partition is over its write units:
    /// `ProvisionedThroughputExceededException`.
    Throttled,
}

/// What the model answers to a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadVerdict {
    Admitted,
    /// The partition is over its read units: `ProvisionedThroughputExceededException`.
    Throttled,
}

/// Whether a read is strongly consistent (one unit per 4 KB) or not (half).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    Strong,
    Eventual,
}

/// What the model counted since it started (or since [`Rules::reset_counters`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// `TransactWriteItems` requests received (admitted or not).
    pub transactions: u64,
    /// Transactions the model cancelled (conflict or throttling).
    pub cancelled_transactions: u64,
    /// Of those, the ones with at least one `TransactionConflict`.
    pub conflict_cancellations: u64,
    /// Transactions the local DynamoDB itself cancelled (a condition check), after the model
    /// admitted them.
    pub upstream_cancellations: u64,
    /// Single writes (`PutItem`, `UpdateItem`, `DeleteItem`) received.
    pub single_writes: u64,
    /// Single writes refused with `TransactionConflictException`.
    pub write_conflicts: u64,
    /// Requests refused for an item's or a partition's write units (a transaction
    /// cancelled with `ThrottlingError`, or a single write's
    /// `ProvisionedThroughputExceededException`). Nothing charged for them.
    pub throttles: u64,
    /// Of those, the ones over a partition's ceiling (not only one item's).
    pub partition_throttles: u64,
    /// Write units charged, all items: [`Counters::write_units_committed`] plus
    /// [`Counters::write_units_refused`].
    pub write_units: u64,
    /// Write units of writes that landed.
    pub write_units_committed: u64,
    /// Write units of writes the upstream engine refused by their condition (charged as
    /// if made: aws.md).
    pub write_units_refused: u64,
    /// Reads (`GetItem`, `BatchGetItem` keys) received, their units in halves, and the
    /// read requests throttled at the partition's read ceiling.
    pub reads: u64,
    pub read_half_units: u64,
    pub read_throttles: u64,
    /// Write units charged per item.
    pub write_units_per_item: BTreeMap<ItemKey, u64>,
    /// Admitted transactions that finished, and the time they held their items in all
    /// (microseconds): the service time the model actually gave, which is longer than
    /// [`ModelConfig::transaction_time`] when the local DynamoDB answers later.
    pub holds_released: u64,
    pub hold_time_us: u64,
}

impl Counters {
    /// The item that took the most write units, and how many.
    pub fn hottest_item(&self) -> Option<(&ItemKey, u64)> {
        self.write_units_per_item
            .iter()
            .max_by_key(|(_, units)| **units)
            .map(|(item, units)| (item, *units))
    }
}

/// The rules' state: which items are held, each item's recent write units, the counters.
#[derive(Debug)]
pub struct Rules {
    units_per_second: u32,
    partition_writes: BucketConfig,
    partition_reads: BucketConfig,
    write_buckets: HashMap<PartitionKey, Bucket>,
    read_buckets: HashMap<PartitionKey, Bucket>,
    holds: HashMap<ItemKey, HoldId>,
    /// The items an admitted transaction holds, since when, and the units it was charged.
    held_by: HashMap<HoldId, (Vec<ItemKey>, Instant, u64)>,
    recent: HashMap<ItemKey, VecDeque<(Instant, u32)>>,
    next_hold: u64,
    counters: Counters,
}

const WINDOW: Duration = Duration::from_secs(1);

impl Rules {
    pub fn new(config: &ModelConfig) -> Rules {
        Rules {
            units_per_second: config.item_write_units_per_second,
            partition_writes: BucketConfig::new(
                config.partition_write_units_per_second,
                config.partition_bucket_min_units,
            ),
            partition_reads: BucketConfig::new(config.partition_read_units_per_second, 0),
            write_buckets: HashMap::new(),
            read_buckets: HashMap::new(),
            holds: HashMap::new(),
            held_by: HashMap::new(),
            recent: HashMap::new(),
            next_hold: 0,
            counters: Counters::default(),
        }
    }

    /// A `TransactWriteItems` naming `items` (in its actions' order) arrives at `now`.
    pub fn admit_transaction(&mut self, items: &[ItemWrite], now: Instant) -> TransactionVerdict {
        self.counters.transactions += 1;
        // Units asked of each partition so far, in the actions' order: the items past what
        // the partition's bucket holds are the ones over its ceiling.
        let mut asked: HashMap<PartitionKey, f64> = HashMap::new();
        let mut over_partition = false;
        let codes: Vec<CancellationCode> = items
            .iter()
            .map(|w| {
                let units = WriteKind::Transactional.units(w.bytes);
                let partition_full = w.item.partition().is_some_and(|p| {
                    let sum = asked.entry(p.clone()).or_default();
                    *sum += f64::from(units);
                    let room = bucket(&mut self.write_buckets, &self.partition_writes, &p, now);
                    *sum > room
                });
                if self.holds.contains_key(&w.item) {
                    CancellationCode::TransactionConflict
                } else if partition_full {
                    over_partition = true;
                    CancellationCode::ThrottlingError
                } else if !self.has_room(&w.item, units, now) {
                    CancellationCode::ThrottlingError
                } else {
                    CancellationCode::None
                }
            })
            .collect();
        if codes.iter().any(|c| *c != CancellationCode::None) {
            self.counters.cancelled_transactions += 1;
            if codes.contains(&CancellationCode::TransactionConflict) {
                self.counters.conflict_cancellations += 1;
            }
            if codes.contains(&CancellationCode::ThrottlingError) {
                self.counters.throttles += 1;
                if over_partition {
                    self.counters.partition_throttles += 1;
                }
            }
            return TransactionVerdict::Cancelled(codes);
        }
        let hold = HoldId(self.next_hold);
        self.next_hold += 1;
        let mut charged = 0u64;
        for w in items {
            let units = WriteKind::Transactional.units(w.bytes);
            self.charge(&w.item, units, now);
            charged += u64::from(units);
            self.holds.insert(w.item.clone(), hold);
        }
        self.held_by.insert(
            hold,
            (items.iter().map(|w| w.item.clone()).collect(), now, charged),
        );
        TransactionVerdict::Admitted(hold)
    }

    /// The transaction `hold` finished at `now`: its items are free. Releasing twice is
    /// harmless.
    pub fn release(&mut self, hold: HoldId, now: Instant) {
        let Some((items, since, _)) = self.held_by.remove(&hold) else {
            return;
        };
        for item in items {
            if self.holds.get(&item) == Some(&hold) {
                self.holds.remove(&item);
            }
        }
        self.counters.holds_released += 1;
        self.counters.hold_time_us +=
            u64::try_from(now.saturating_duration_since(since).as_micros()).unwrap_or(u64::MAX);
    }

    /// A single write of `write` arrives at `now`.
    pub fn admit_write(&mut self, write: &ItemWrite, now: Instant) -> WriteVerdict {
        self.counters.single_writes += 1;
        if self.holds.contains_key(&write.item) {
            self.counters.write_conflicts += 1;
            return WriteVerdict::TransactionConflict;
        }
        let units = WriteKind::Plain.units(write.bytes);
        if let Some(p) = write.item.partition() {
            let room = bucket(&mut self.write_buckets, &self.partition_writes, &p, now);
            if f64::from(units) > room {
                self.counters.throttles += 1;
                self.counters.partition_throttles += 1;
                return WriteVerdict::Throttled;
            }
        }
        if !self.has_room(&write.item, units, now) {
            self.counters.throttles += 1;
            return WriteVerdict::Throttled;
        }
        self.charge(&write.item, units, now);
        WriteVerdict::Admitted(units)
    }

    /// A read of `keys` (one `GetItem`, or a `BatchGetItem`'s keys) arrives at `now`:
    /// one unit per key read strongly, half eventually, from each key's partition bucket.
    pub fn admit_read(
        &mut self,
        keys: &[ItemKey],
        consistency: Consistency,
        now: Instant,
    ) -> ReadVerdict {
        let half_units: u64 = match consistency {
            Consistency::Strong => 2,
            Consistency::Eventual => 1,
        };
        let mut asked: HashMap<PartitionKey, f64> = HashMap::new();
        for k in keys {
            if let Some(p) = k.partition() {
                *asked.entry(p).or_default() += half_units as f64 / 2.0;
            }
        }
        for (p, units) in &asked {
            if *units > bucket(&mut self.read_buckets, &self.partition_reads, p, now) {
                self.counters.read_throttles += 1;
                return ReadVerdict::Throttled;
            }
        }
        for (p, units) in asked {
            if let Some(b) = self.read_buckets.get_mut(&p) {
                b.tokens -= units;
            }
        }
        self.counters.reads += keys.len() as u64;
        self.counters.read_half_units += half_units * keys.len() as u64;
        ReadVerdict::Admitted
    }

    /// Charges plain writes that are never refused (`BatchWriteItem`'s, which the model
    /// passes through: DynamoDB would return them as unprocessed items).
    pub fn charge_unrefused(&mut self, write: &ItemWrite, now: Instant) {
        self.charge(&write.item, WriteKind::Plain.units(write.bytes), now);
    }

    /// The upstream engine cancelled a transaction the model had admitted (a condition
    /// failed): its units stay charged, as refused ones. Call before [`Rules::release`].
    pub fn count_upstream_cancellation(&mut self, hold: HoldId) {
        self.counters.upstream_cancellations += 1;
        if let Some((_, _, units)) = self.held_by.get(&hold) {
            self.counters.write_units_committed -= units;
            self.counters.write_units_refused += units;
        }
    }

    /// The upstream engine refused an admitted single write of `units` by its condition.
    pub fn count_refused_write(&mut self, units: u32) {
        self.counters.write_units_committed -= u64::from(units);
        self.counters.write_units_refused += u64::from(units);
    }

    /// Whether `item` is held by a running transaction.
    pub fn is_held(&self, item: &ItemKey) -> bool {
        self.holds.contains_key(item)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn reset_counters(&mut self) {
        self.counters = Counters::default();
    }

    fn has_room(&mut self, item: &ItemKey, units: u32, now: Instant) -> bool {
        let used: u64 = match self.recent.get_mut(item) {
            None => 0,
            Some(recent) => {
                while recent
                    .front()
                    .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= WINDOW)
                {
                    recent.pop_front();
                }
                recent.iter().map(|(_, u)| u64::from(*u)).sum()
            }
        };
        used + u64::from(units) <= u64::from(self.units_per_second)
    }

    fn charge(&mut self, item: &ItemKey, units: u32, now: Instant) {
        self.recent
            .entry(item.clone())
            .or_default()
            .push_back((now, units));
        if let Some(p) = item.partition() {
            let b = self
                .write_buckets
                .entry(p)
                .or_insert_with(|| Bucket::full(&self.partition_writes, now));
            b.tokens -= f64::from(units);
        }
        self.counters.write_units += u64::from(units);
        self.counters.write_units_committed += u64::from(units);
        *self
            .counters
            .write_units_per_item
            .entry(item.clone())
            .or_default() += u64::from(units);
    }
}

/// A partition ceiling: units a second, and the most its bucket holds.
#[derive(Clone, Copy, Debug)]
struct BucketConfig {
    per_second: f64,
    capacity: f64,
}

impl BucketConfig {
    fn new(per_second: u32, min_capacity: u32) -> BucketConfig {
        BucketConfig {
            per_second: f64::from(per_second),
            capacity: f64::from(per_second.max(min_capacity)),
        }
    }
}

/// One partition's units left, as of `at`; refills at the ceiling's rate up to its
/// capacity. May go below zero by no more than one request (the check is on what it asks).
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(config: &BucketConfig, now: Instant) -> Bucket {
        Bucket {
            tokens: config.capacity,
            at: now,
        }
    }
}

/// The units `partition`'s bucket holds at `now` (refilled first).
fn bucket(
    buckets: &mut HashMap<PartitionKey, Bucket>,
    config: &BucketConfig,
    partition: &PartitionKey,
    now: Instant,
) -> f64 {
    let b = buckets
        .entry(partition.clone())
        .or_insert_with(|| Bucket::full(config, now));
    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
    b.tokens = (b.tokens + elapsed * config.per_second).min(config.capacity);
    b.at = b.at.max(now);
    b.tokens
}

/// The size DynamoDB would charge for an attribute map in wire form (see the module's
/// approximations).
pub fn map_size(map: &Map<String, Value>) -> usize {
    map.iter().map(|(name, v)| name.len() + value_size(v)).sum()
}

/// The size of one attribute value in wire form (`{"S": "..."}`, `{"N": "..."}`, ...).
pub fn value_size(value: &Value) -> usize {
    let Some(obj) = value.as_object() else {
        return 0;
    };
    obj.iter()
        .map(|(kind, v)| match (kind.as_str(), v) {
            ("S", Value::String(s)) => s.len(),
            ("N", Value::String(n)) => number_size(n),
            // base64 on the wire: 3 bytes per 4 characters.
            ("B", Value::String(b)) => b.len() * 3 / 4,
            ("BOOL", _) | ("NULL", _) => 1,
            ("SS", Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::len).sum(),
            ("NS", Value::Array(a)) => a.iter().filter_map(Value::as_str).map(number_size).sum(),
            ("BS", Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(|b| b.len() * 3 / 4)
                .sum(),
            ("L", Value::Array(a)) => 3 + a.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
            ("M", Value::Object(m)) => 3 + m.len() + map_size(m),
            _ => 0,
        })
        .sum()
}

fn number_size(n: &str) -> usize {
    let digits = n.chars().filter(char::is_ascii_digit).count();
    digits.div_ceil(2) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(pk: &str, sk: &str) -> ItemKey {
        ItemKey {
            table: "t".to_owned(),
            key: json!({"pk": {"S": pk}, "sk": {"S": sk}}).to_string(),
            partition: json!({ "S": pk }).to_string(),
        }
    }

    fn write(pk: &str, sk: &str) -> ItemWrite {
        ItemWrite {
            item: key(pk, sk),
            bytes: 100,
        }
    }

    fn rules() -> Rules {
        Rules::new(&ModelConfig::default())
    }

    #[test]
    fn a_transaction_on_a_held_item_is_cancelled_with_the_conflict_on_that_item_only() {
        let mut r = rules();
        let now = Instant::now();
        let first = r.admit_transaction(&[write("A", "PROFILE"), write("A", "SUB#1")], now);
        assert!(matches!(first, TransactionVerdict::Admitted(_)));
        let second = r.admit_transaction(&[write("A", "SUB#2"), write("A", "PROFILE")], now);
        assert_eq!(
            second,
            TransactionVerdict::Cancelled(vec![
                CancellationCode::None,
                CancellationCode::TransactionConflict
            ])
        );
        let c = r.counters();
        assert_eq!((c.transactions, c.cancelled_transactions), (2, 1));
        assert_eq!((c.conflict_cancellations, c.throttles), (1, 0));
        // Refused: nothing charged, nothing held for SUB#2.
        assert!(!r.is_held(&key("A", "SUB#2")));
        assert_eq!(c.write_units, 4);
    }

    #[test]
    fn released_items_are_free_again_and_other_items_never_conflict() {
        let mut r = rules();
        let now = Instant::now();
        let TransactionVerdict::Admitted(hold) = r.admit_transaction(&[write("A", "PROFILE")], now)
        else {
            panic!("the first transaction is admitted");
        };
        assert!(matches!(
            r.admit_transaction(&[write("B", "PROFILE")], now),
            TransactionVerdict::Admitted(_)
        ));
        r.release(hold, now + Duration::from_millis(15));
        r.release(hold, now + Duration::from_millis(20));
        assert_eq!(r.counters().holds_released, 1);
        assert_eq!(r.counters().hold_time_us, 15_000);
        assert!(!r.is_held(&key("A", "PROFILE")));
        assert!(matches!(
            r.admit_transaction(&[write("A", "PROFILE")], now),
            TransactionVerdict::Admitted(_)
        ));
    }

    #[test]
    fn a_single_write_on_a_held_item_is_a_transaction_conflict() {
        let mut r = rules();
        let now = Instant::now();
        let TransactionVerdict::Admitted(hold) = r.admit_transaction(&[write("A", "PROFILE")], now)
        else {
            panic!("admitted");
        };
        assert_eq!(
            r.admit_write(&write("A", "PROFILE"), now),
            WriteVerdict::TransactionConflict
        );
        assert_eq!(
            r.admit_write(&write("A", "SUB#1"), now),
            WriteVerdict::Admitted(1)
        );
        r.release(hold, now);
        assert_eq!(
            r.admit_write(&write("A", "PROFILE"), now),
            WriteVerdict::Admitted(1)
        );
        let c = r.counters();
        assert_eq!((c.single_writes, c.write_conflicts), (3, 1));
        // 2 (transactional) + 1 + 1 (plain).
        assert_eq!(c.write_units, 4);
        assert_eq!(c.write_units_per_item[&key("A", "PROFILE")], 3);
    }

    #[test]
    fn units_are_per_kb_rounded_up_two_for_a_transaction_one_for_a_plain_write() {
        assert_eq!(WriteKind::Transactional.units(0), 2);
        assert_eq!(WriteKind::Transactional.units(1024), 2);
        assert_eq!(WriteKind::Transactional.units(1025), 4);
        assert_eq!(WriteKind::Plain.units(1), 1);
        assert_eq!(WriteKind::Plain.units(3000), 3);
    }

    #[test]
    fn one_item_takes_at_most_its_units_per_second_then_throttles_then_recovers() {
        // The partition's ceiling out of the way: this is the item's.
        let mut r = Rules::new(&ModelConfig {
            partition_write_units_per_second: 10_000,
            ..ModelConfig::default()
        });
        let start = Instant::now();
        // 500 transactions of 2 units on one item fill its 1000 units.
        for i in 0..500u64 {
            let at = start + Duration::from_micros(i);
            let TransactionVerdict::Admitted(h) = r.admit_transaction(&[write("A", "PROFILE")], at)
            else {
                panic!("transaction {i} is within the item's units");
            };
            r.release(h, at);
        }
        let at = start + Duration::from_millis(500);
        assert_eq!(
            r.admit_transaction(&[write("A", "SUB#1"), write("A", "PROFILE")], at),
            TransactionVerdict::Cancelled(vec![
                CancellationCode::None,
                CancellationCode::ThrottlingError
            ])
        );
        assert_eq!(
            r.admit_write(&write("A", "PROFILE"), at),
            WriteVerdict::Throttled
        );
        // Another item of the same account is not limited by this one.
        assert_eq!(
            r.admit_write(&write("A", "SUB#9"), at),
            WriteVerdict::Admitted(1)
        );
        assert_eq!(r.counters().throttles, 2);
        assert_eq!(
            r.counters().write_units_per_item[&key("A", "PROFILE")],
            1000
        );
        // A second after the first units, they no longer count.
        let later = start + Duration::from_millis(1001);
        assert!(matches!(
            r.admit_transaction(&[write("A", "PROFILE")], later),
            TransactionVerdict::Admitted(_)
        ));
    }

    fn partition_rules(per_second: u32, min_bucket: u32) -> Rules {
        Rules::new(&ModelConfig {
            partition_write_units_per_second: per_second,
            partition_read_units_per_second: per_second,
            partition_bucket_min_units: min_bucket,
            ..ModelConfig::default()
        })
    }

    #[test]
    fn a_partition_takes_its_ceiling_across_items_then_throttles_the_items_over_it() {
        let mut r = partition_rules(10, 0);
        let now = Instant::now();
        // 10 units a second: four 2-unit items fit, the fifth and sixth do not.
        let items: Vec<ItemWrite> = (0..6).map(|i| write("A", &format!("SUB#{i}"))).collect();
        assert_eq!(
            r.admit_transaction(&items, now),
            TransactionVerdict::Cancelled(vec![
                CancellationCode::None,
                CancellationCode::None,
                CancellationCode::None,
                CancellationCode::None,
                CancellationCode::None,
                CancellationCode::ThrottlingError,
            ])
        );
        // Throttled: nothing charged, the bucket still full.
        assert_eq!(r.counters().write_units, 0);
        assert_eq!(
            (r.counters().throttles, r.counters().partition_throttles),
            (1, 1)
        );
        let TransactionVerdict::Admitted(h) = r.admit_transaction(&items[..5], now) else {
            panic!("ten units fit ten");
        };
        r.release(h, now);
        // Another item of the same account meets the same ceiling; another account not.
        assert_eq!(
            r.admit_write(&write("A", "PROFILE"), now),
            WriteVerdict::Throttled
        );
        assert_eq!(
            r.admit_write(&write("B", "PROFILE"), now),
            WriteVerdict::Admitted(1)
        );
        // Refilled at the ceiling's rate: a fifth of a second is two units.
        let later = now + Duration::from_millis(200);
        for _ in 0..2 {
            assert_eq!(
                r.admit_write(&write("A", "PROFILE"), later),
                WriteVerdict::Admitted(1)
            );
        }
        assert_eq!(
            r.admit_write(&write("A", "PROFILE"), later),
            WriteVerdict::Throttled
        );
        let c = r.counters();
        assert_eq!((c.write_units, c.write_units_committed), (13, 13));
        assert_eq!((c.throttles, c.partition_throttles), (3, 3));
    }

    #[test]
    fn a_bucket_holds_at_least_its_minimum_so_one_full_transaction_can_pass() {
        // 100 units a second, never enough for a 200-unit transaction in a one-second
        // bucket; with a 200-unit bucket it passes once the bucket is full.
        let items: Vec<ItemWrite> = (0..100).map(|i| write("A", &format!("S{i}"))).collect();
        let now = Instant::now();
        let mut small = partition_rules(100, 0);
        let later = now + Duration::from_secs(10);
        assert!(matches!(
            small.admit_transaction(&items, later),
            TransactionVerdict::Cancelled(_)
        ));
        let mut held = partition_rules(100, 200);
        let TransactionVerdict::Admitted(h) = held.admit_transaction(&items, now) else {
            panic!("a full bucket takes a full transaction");
        };
        held.release(h, now);
        // Empty now: two seconds to refill 200 units.
        let soon = now + Duration::from_millis(1500);
        assert!(matches!(
            held.admit_transaction(&items, soon),
            TransactionVerdict::Cancelled(_)
        ));
        assert!(matches!(
            held.admit_transaction(&items, now + Duration::from_millis(2000)),
            TransactionVerdict::Admitted(_)
        ));
    }

    #[test]
    fn a_write_refused_by_its_condition_stays_charged_as_refused() {
        let mut r = rules();
        let now = Instant::now();
        let TransactionVerdict::Admitted(h) =
            r.admit_transaction(&[write("A", "SUB#1"), write("A", "PROFILE")], now)
        else {
            panic!("admitted");
        };
        r.count_upstream_cancellation(h);
        r.release(h, now);
        let WriteVerdict::Admitted(units) = r.admit_write(&write("A", "SUB#2"), now) else {
            panic!("admitted");
        };
        r.count_refused_write(units);
        let c = r.counters();
        assert_eq!(c.write_units, 5);
        assert_eq!((c.write_units_committed, c.write_units_refused), (0, 5));
        assert_eq!(c.upstream_cancellations, 1);
    }

    #[test]
    fn reads_take_a_unit_per_key_strongly_half_eventually_from_the_partition() {
        let mut r = partition_rules(3, 0);
        let now = Instant::now();
        let keys = [key("A", "SUB#1"), key("A", "SUB#2")];
        assert_eq!(
            r.admit_read(&keys, Consistency::Strong, now),
            ReadVerdict::Admitted
        );
        assert_eq!(
            r.admit_read(&keys, Consistency::Strong, now),
            ReadVerdict::Throttled
        );
        assert_eq!(
            r.admit_read(&keys, Consistency::Eventual, now),
            ReadVerdict::Admitted
        );
        assert_eq!(
            r.admit_read(&[key("B", "PROFILE")], Consistency::Strong, now),
            ReadVerdict::Admitted
        );
        let c = r.counters();
        assert_eq!((c.reads, c.read_half_units, c.read_throttles), (5, 8, 1));
    }

    #[test]
    fn item_keys_are_the_table_and_the_key_attributes_only() {
        let attrs = ModelConfig::default().key_attributes;
        let item =
            json!({"sk": {"S": "PROFILE"}, "pk": {"S": "OA#1#a"}, "subscriber_count": {"N": "3"}});
        let Value::Object(item) = item else {
            unreachable!()
        };
        let k = ItemKey::of("t", &item, &attrs).expect("has pk and sk");
        let Value::Object(only_key) = json!({"pk": {"S": "OA#1#a"}, "sk": {"S": "PROFILE"}}) else {
            unreachable!()
        };
        assert_eq!(Some(k), ItemKey::of("t", &only_key, &attrs));
        let Value::Object(no_sk) = json!({"pk": {"S": "OA#1#a"}}) else {
            unreachable!()
        };
        assert_eq!(ItemKey::of("t", &no_sk, &attrs), None);
    }

    #[test]
    fn sizes_follow_dynamodb_item_size_rules_approximately() {
        let Value::Object(m) = json!({
            "pk": {"S": "abcd"},
            "n": {"N": "12345"},
            "b": {"BOOL": true},
            "l": {"L": [{"S": "xy"}]},
        }) else {
            unreachable!()
        };
        // pk: 2+4; n: 1 + (3+1); b: 1+1; l: 1 + 3 + 1 + 2.
        assert_eq!(map_size(&m), 6 + 5 + 2 + 7);
    }
}
