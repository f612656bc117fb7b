//! The stored items (docs/table.md: the contract's attributes, and `rev` and
//! `field_times` of ours), as serde structs mapped with `serde_dynamo`. A `None` field is
//! left out of the item (`skip_serializing_none`), never stored as NULL.

use super::schema::*;
use crate::state::{AccountStatus, Profile, Stamped, Subscription};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FieldTimes {
    pub owner_account: Option<u64>,
    pub name: Option<u64>,
    pub introduction: Option<u64>,
    pub face_url: Option<u64>,
    pub organization: Option<u64>,
}

/// The `PROFILE` item. `subscriber_count` is read here but written only as a counter.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProfileItem {
    pub entity: String,
    pub sdk_app_id: String,
    pub official_account: String,
    pub gsi1pk: Option<String>,
    pub gsi1sk: Option<String>,
    pub gsi2pk: Option<String>,
    pub gsi2sk: Option<String>,
    pub status: Option<String>,
    pub owner_account: Option<String>,
    pub created_at: Option<u64>,
    pub created_by: Option<String>,
    pub destroyed_at: Option<u64>,
    pub name: Option<String>,
    pub introduction: Option<String>,
    pub face_url: Option<String>,
    pub organization: Option<String>,
    pub full_at: Option<u64>,
    #[serde(skip_serializing, default)]
    pub subscriber_count: Option<i64>,
    #[serde(default)]
    pub field_times: FieldTimes,
    pub rev: Option<u64>,
}

/// Attributes of [`ProfileItem`] that a profile write removes when the state has none.
pub(crate) const PROFILE_OPTIONAL: &[&str] = &[
    GSI1_PK,
    GSI1_SK,
    "status",
    "owner_account",
    "created_at",
    "created_by",
    "destroyed_at",
    "name",
    "introduction",
    "face_url",
    "organization",
    "full_at",
];

fn stamped(value: Option<String>, time: Option<u64>) -> Option<Stamped> {
    value.map(|value| Stamped {
        time: time.unwrap_or(0),
        value,
    })
}

impl ProfileItem {
    pub(crate) fn to_state(&self) -> Profile {
        let t = &self.field_times;
        Profile {
            created: self.created_at.map(|c| (c, self.created_by.clone())),
            destroyed_at: self.destroyed_at,
            owner: stamped(self.owner_account.clone(), t.owner_account),
            name: stamped(self.name.clone(), t.name),
            introduction: stamped(self.introduction.clone(), t.introduction),
            face_url: stamped(self.face_url.clone(), t.face_url),
            organization: stamped(self.organization.clone(), t.organization),
            full_at: self.full_at,
        }
    }

    /// The item for a state (without `subscriber_count`, which is a counter).
    pub(crate) fn from_state(app: &str, account: &str, p: &Profile, rev: u64) -> ProfileItem {
        let value = |s: &Option<Stamped>| s.as_ref().map(|s| s.value.clone());
        let time = |s: &Option<Stamped>| s.as_ref().map(|s| s.time);
        ProfileItem {
            entity: ENTITY_ACCOUNT.to_owned(),
            sdk_app_id: app.to_owned(),
            official_account: account.to_owned(),
            gsi1pk: p.owner.as_ref().map(|o| user_pk(app, &o.value)),
            gsi1sk: p.owner.as_ref().map(|_| owns_sk(account)),
            gsi2pk: Some(app_pk(app)),
            gsi2sk: Some(app_account_sk(account)),
            status: p.status().map(|s| AccountStatus::as_str(s).to_owned()),
            owner_account: value(&p.owner),
            created_at: p.created.as_ref().map(|c| c.0),
            created_by: p.created.as_ref().and_then(|c| c.1.clone()),
            destroyed_at: p.destroyed_at,
            name: value(&p.name),
            introduction: value(&p.introduction),
            face_url: value(&p.face_url),
            organization: value(&p.organization),
            full_at: p.full_at,
            subscriber_count: None,
            field_times: FieldTimes {
                owner_account: time(&p.owner),
                name: time(&p.name),
                introduction: time(&p.introduction),
                face_url: time(&p.face_url),
                organization: time(&p.organization),
            },
            rev: Some(rev),
        }
    }
}

/// A `SUB#{user}` item.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SubscriptionItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub sdk_app_id: String,
    pub official_account: String,
    pub subscriber_account: String,
    pub status: String,
    pub event_time: u64,
    pub operator_account: Option<String>,
    pub gsi1pk: Option<String>,
    pub gsi1sk: Option<String>,
}

impl SubscriptionItem {
    pub fn new(app: &str, account: &str, user: &str, s: &Subscription) -> SubscriptionItem {
        SubscriptionItem {
            pk: account_pk(app, account),
            sk: subscription_sk(user),
            entity: ENTITY_SUBSCRIPTION.to_owned(),
            sdk_app_id: app.to_owned(),
            official_account: account.to_owned(),
            subscriber_account: user.to_owned(),
            status: s.status_str().to_owned(),
            event_time: s.event_time,
            operator_account: s.operator.clone(),
            gsi1pk: s.subscribed.then(|| user_pk(app, user)),
            gsi1sk: s.subscribed.then(|| format!("{SUB_PREFIX}{account}")),
        }
    }

    pub(crate) fn to_state(&self) -> Subscription {
        Subscription {
            subscribed: self.status == "SUBSCRIBED",
            event_time: self.event_time,
            operator: self.operator_account.clone(),
        }
    }
}

/// The send-event part of a `MSG#{key}` item.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MessageItem {
    pub entity: String,
    pub sdk_app_id: String,
    pub official_account: String,
    pub msg_key: String,
    pub msg_time: Option<u64>,
    pub event_time: Option<u64>,
    pub online_only_flag: Option<i64>,
    pub cloud_custom_data: Option<String>,
}

/// Attributes a send removes when its event has none (a newer send replaces an older).
pub(crate) const MESSAGE_SEND_OPTIONAL: &[&str] = &[
    "msg_time",
    "online_only_flag",
    "msg_body",
    "cloud_custom_data",
];

pub(crate) fn to_item<T: Serialize>(value: &T) -> serde_dynamo::Result<Item> {
    serde_dynamo::to_item(value)
}

pub(crate) fn from_item<'a, T: Deserialize<'a>>(item: Item) -> serde_dynamo::Result<T> {
    serde_dynamo::from_item(item)
}

/// Builds `SET #a0 = :v0, ... REMOVE #a1, ... ADD #a2 :v1` for `set` and the `remove`
/// attributes that `set` lacks, with every name behind a placeholder (several of ours are
/// DynamoDB reserved words: `name`, `status`, ...).
///
/// Built for every write, so it keeps to a few allocations: the clauses are appended to
/// three strings, and a name's placeholder is found by its position in `attrs`.
#[derive(Default)]
pub struct UpdateBuilder {
    sets: String,
    removes: String,
    adds: String,
    /// Attribute names in placeholder order: `attrs[i]` is `#a{i}`.
    attrs: Vec<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

/// Appends `parts` to `clause`, after `, ` unless they are its first.
fn push(clause: &mut String, parts: &[&str]) {
    if !clause.is_empty() {
        clause.push_str(", ");
    }
    parts.iter().for_each(|part| clause.push_str(part));
}

impl UpdateBuilder {
    /// A placeholder for an attribute name.
    pub fn name(&mut self, attr: &str) -> String {
        if let Some(i) = self.attrs.iter().position(|a| a == attr) {
            return format!("#a{i}");
        }
        let ph = format!("#a{}", self.attrs.len());
        self.attrs.push(attr.to_owned());
        self.names.insert(ph.clone(), attr.to_owned());
        ph
    }

    /// A placeholder for a value.
    pub fn value(&mut self, v: AttributeValue) -> String {
        let ph = format!(":v{}", self.values.len());
        self.values.insert(ph.clone(), v);
        ph
    }

    pub fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(v));
        push(&mut self.sets, &[&n, " = ", &v]);
        self
    }

    pub(crate) fn set_if_absent(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(v));
        push(
            &mut self.sets,
            &[&n, " = if_not_exists(", &n, ", ", &v, ")"],
        );
        self
    }

    pub fn add(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (n, v) = (self.name(attr), self.value(v));
        push(&mut self.adds, &[&n, " ", &v]);
        self
    }

    pub fn remove(&mut self, attr: &str) -> &mut Self {
        let n = self.name(attr);
        push(&mut self.removes, &[&n]);
        self
    }

    /// Sets every attribute of `item` and removes each of `optional` it lacks.
    pub fn set_item(&mut self, item: Item, optional: &[&str]) -> &mut Self {
        for attr in optional {
            if !item.contains_key(*attr) {
                self.remove(attr);
            }
        }
        let mut attrs: Vec<(String, AttributeValue)> = item.into_iter().collect();
        attrs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (k, v) in attrs {
            self.set(&k, v);
        }
        self
    }

    pub fn expression(&self) -> String {
        let mut out =
            String::with_capacity(self.sets.len() + self.removes.len() + self.adds.len() + 16);
        for (keyword, clause) in [
            ("SET ", &self.sets),
            ("REMOVE ", &self.removes),
            ("ADD ", &self.adds),
        ] {
            if clause.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(keyword);
            out.push_str(clause);
        }
        out
    }
}

pub(crate) fn number_value(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn string_value(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        (PK.to_owned(), string_value(pk)),
        (SK.to_owned(), string_value(sk)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_expression_names_each_attribute_once() {
        let mut u = UpdateBuilder::default();
        u.set("name", string_value("a"))
            .set_if_absent("subscriber_count", number_value(0))
            .remove("status")
            .add("subscriber_count", number_value(2))
            .remove("owner_account");
        assert_eq!(
            u.expression(),
            "SET #a0 = :v0, #a1 = if_not_exists(#a1, :v1) REMOVE #a2, #a3 ADD #a1 :v2"
        );
        assert_eq!(u.name("status"), "#a2");
        assert_eq!(u.names.len(), 4);
        assert_eq!(u.names["#a1"], "subscriber_count");
        assert_eq!(u.values[":v2"], number_value(2));
        assert_eq!(UpdateBuilder::default().expression(), "");
    }

    #[test]
    fn set_item_sets_sorted_attributes_and_removes_missing_optional_ones() {
        let item = Item::from([
            ("b".to_owned(), string_value("1")),
            ("a".to_owned(), string_value("2")),
        ]);
        let mut u = UpdateBuilder::default();
        u.set_item(item, &["a", "z"]);
        assert_eq!(u.expression(), "SET #a1 = :v0, #a2 = :v1 REMOVE #a0");
        assert_eq!(u.names["#a0"], "z");
        assert_eq!(u.names["#a1"], "a");
        assert_eq!(u.values[":v0"], string_value("2"));
    }
}
