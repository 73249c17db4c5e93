//! Validating a policy document and compiling it into lookup tables.
//!
//! Every name is interned to a small index. For each (role, item, visibility)
//! the actions allowed on an owned item and on someone else's item are
//! precomputed as one bitset each, exactly as `item_actions` of PROTOCOL.md 6.3
//! would compute them (`can_own_items` folded into the owned set). A decision
//! is then: look up the role, item, visibility and action indices, test a bit,
//! and apply the visibility/sharing test.
//!
//! Validation is strict, so that a typo stops the server instead of silently
//! denying (or granting) access: unknown keys, names not declared in `roles`,
//! `items`, `actions`, `visibilities` or `limits`, duplicates, wrong JSON
//! types, and roles without a `role_policy` entry are all errors, reported
//! with a JSON path to the entry.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::pyconv::{Num, to_float, to_int};
use super::{AccessQuery, UnknownRole};

/// At most this many actions (they are bits of a `u64`).
const MAX_ACTIONS: usize = 64;

/// Roles that skip the visibility/sharing test (PROTOCOL.md 6.2).
const VISIBILITY_BYPASS_ROLES: [&str; 2] = ["superuser", "staff"];

/// Roles the server's code depends on (PROTOCOL.md 6.1).
const REQUIRED_ROLES: [&str; 3] = ["superuser", "anonymous", "locked"];

/// The anonymous user: listing it in `sharedwith` shares with everyone.
const ANONYMOUS_USER_ID: i64 = authnz_api::ANONYMOUS_USER_ID;

const OWNED: usize = 0;
const OTHER: usize = 1;

/// A set of action indices.
pub(super) type ActionSet = u64;

/// Interned names: index by name, name by index, in file order.
#[derive(Debug, Default)]
pub(super) struct Names {
    list: Vec<String>,
    index: HashMap<String, usize>,
}

impl Names {
    pub(super) fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub(super) fn list(&self) -> &[String] {
        &self.list
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }
}

/// What the visibility test of PROTOCOL.md 6.3 does with a visibility, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VisKind {
    Private,
    Shared,
    Open,
    /// Any other name: only the bypass roles pass the test.
    Closed,
}

/// Number type and comparison of a limit type (`limits` in 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumType {
    Int,
    Float,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operator {
    Lt,
    Gt,
}

/// One limit of a role, with its limit type resolved and the limit value
/// already converted.
#[derive(Debug, Clone)]
pub(super) struct RoleLimit {
    pub(super) name: String,
    pub(super) type_name: String,
    pub(super) num_type: NumType,
    pub(super) operator: Operator,
    pub(super) limit: Num,
    /// The limit as written in the file, for reports.
    pub(super) written: Value,
}

#[derive(Debug)]
pub(super) struct RoleRules {
    bypass_visibility: bool,
    pub(super) can_own: Vec<bool>,
    pub(super) limits: Vec<RoleLimit>,
    limit_index: HashMap<String, usize>,
}

/// The compiled policy.
#[derive(Debug)]
pub(super) struct Compiled {
    pub(super) roles: Names,
    pub(super) items: Names,
    pub(super) actions: Names,
    pub(super) visibilities: Names,
    vis_kinds: Vec<VisKind>,
    pub(super) rules: Vec<RoleRules>,
    /// `[OWNED, OTHER]` action sets, indexed by `(role * items + item) *
    /// visibilities + visibility`.
    perms: Vec<[ActionSet; 2]>,
    /// Who manages groups (`group_policy`, optional).
    pub(super) groups: GroupRules,
}

/// The compiled `group_policy` (PROTOCOL.md 6.1): absent from a file, it
/// is the default of [`GroupRules::default_for`].
#[derive(Debug, Clone)]
pub(super) struct GroupRules {
    /// By role index: may create and delete any group and manage any
    /// group's members and owners.
    pub(super) managers: Vec<bool>,
    /// Whether a group's owners may add and remove its other members.
    pub(super) owners_manage_members: bool,
}

/// The roles that manage groups when a policy has no `group_policy`.
const DEFAULT_GROUP_MANAGERS: [&str; 2] = ["superuser", "staff"];

/// Roles that can never manage groups (PROTOCOL.md 6.2).
const NO_GROUP_MANAGERS: [&str; 2] = ["anonymous", "locked"];

impl GroupRules {
    /// The default: the declared ones of `superuser` and `staff` manage,
    /// owners manage members.
    fn default_for(roles: &Names) -> GroupRules {
        let present: Vec<&str> = DEFAULT_GROUP_MANAGERS
            .into_iter()
            .filter(|r| roles.get(r).is_some())
            .collect();
        GroupRules {
            managers: flags(&present, roles),
            owners_manage_members: true,
        }
    }

    /// The optional top-level `group_policy` object.
    fn from_doc(doc: &Map<String, Value>, roles: &Names) -> Res<GroupRules> {
        let Some(v) = doc.get("group_policy") else {
            return Ok(GroupRules::default_for(roles));
        };
        const PATH: &str = "group_policy";
        let gp = object(v, PATH)?;
        const GROUP_KEYS: [&str; 2] = ["manager_roles", "owners_manage_members"];
        keys(gp, &[], &GROUP_KEYS, PATH)?;
        let mut rules = GroupRules::default_for(roles);
        if let Some(list) = gp.get("manager_roles") {
            let known_role = known(roles, "role");
            let managers = string_list(list, "group_policy.manager_roles", |s, at| {
                known_role(s, at)?;
                if NO_GROUP_MANAGERS.contains(&s) {
                    Err(format!("{at}: the role \"{s}\" cannot manage groups"))
                } else {
                    Ok(())
                }
            })?;
            rules.managers = flags(&managers, roles);
        }
        if let Some(flag) = gp.get("owners_manage_members") {
            rules.owners_manage_members = flag.as_bool().ok_or_else(|| {
                format!(
                    "group_policy.owners_manage_members: expected true or false, found {}",
                    kind(flag)
                )
            })?;
        }
        Ok(rules)
    }
}

type Res<T> = Result<T, String>;

fn object<'v>(v: &'v Value, path: &str) -> Res<&'v Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| format!("{path}: expected an object, found {}", kind(v)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Check that `map` has every key of `required` and no key outside `allowed`.
fn keys(map: &Map<String, Value>, required: &[&str], allowed: &[&str], path: &str) -> Res<()> {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(format!(
                "{}: unknown key \"{key}\" (expected one of: {})",
                join_path(path, key),
                allowed.join(", ")
            ));
        }
    }
    for key in required {
        if !map.contains_key(*key) {
            return Err(format!("{}: missing", join_path(path, key)));
        }
    }
    Ok(())
}

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A list of strings, each checked by `check` (which gets the element's path).
fn string_list<'v>(
    v: &'v Value,
    path: &str,
    mut check: impl FnMut(&'v str, &str) -> Res<()>,
) -> Res<Vec<&'v str>> {
    let list = v
        .as_array()
        .ok_or_else(|| format!("{path}: expected a list of strings, found {}", kind(v)))?;
    let mut out: Vec<&str> = Vec::with_capacity(list.len());
    for (i, el) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let s = el
            .as_str()
            .ok_or_else(|| format!("{at}: expected a string, found {}", kind(el)))?;
        check(s, &at)?;
        if out.contains(&s) {
            return Err(format!("{at}: \"{s}\" is listed twice"));
        }
        out.push(s);
    }
    Ok(out)
}

/// A declared name list (`roles`, `items`, ...).
fn declare(doc: &Map<String, Value>, key: &str) -> Res<Names> {
    let v = doc.get(key).unwrap_or(&Value::Null);
    let list = string_list(v, key, |s, at| {
        if s.is_empty() {
            Err(format!("{at}: empty name"))
        } else {
            Ok(())
        }
    })?;
    let list: Vec<String> = list.into_iter().map(str::to_owned).collect();
    let index = list
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect();
    Ok(Names { list, index })
}

/// `names[i]` must be declared in `declared` (a `what`, e.g. "action").
fn known<'a>(declared: &'a Names, what: &'a str) -> impl Fn(&str, &str) -> Res<()> + 'a {
    move |s, at| {
        if declared.get(s).is_some() {
            Ok(())
        } else {
            Err(format!("{at}: unknown {what} \"{s}\""))
        }
    }
}

/// A map key naming a declared thing.
fn known_key(declared: &Names, what: &str, key: &str, path: &str) -> Res<usize> {
    declared
        .get(key)
        .ok_or_else(|| format!("{}: unknown {what} \"{key}\"", join_path(path, key)))
}

/// One limit type of the top-level `limits` object.
#[derive(Debug, Clone)]
struct LimitType {
    num_type: NumType,
    operator: Operator,
}

fn limit_types(doc: &Map<String, Value>) -> Res<HashMap<String, LimitType>> {
    let limits = object(doc.get("limits").unwrap_or(&Value::Null), "limits")?;
    let mut out = HashMap::new();
    for (name, def) in limits {
        let path = join_path("limits", name);
        let def = object(def, &path)?;
        keys(def, &["type", "operator"], &["type", "operator"], &path)?;
        let num_type = match def.get("type").and_then(Value::as_str) {
            Some("int") => NumType::Int,
            Some("float") => NumType::Float,
            _ => {
                return Err(format!(
                    "{path}.type: expected \"int\" or \"float\", found {}",
                    def.get("type").map_or("nothing".into(), Value::to_string)
                ));
            }
        };
        let operator = match def.get("operator").and_then(Value::as_str) {
            Some("lt") => Operator::Lt,
            Some("gt") => Operator::Gt,
            _ => {
                return Err(format!(
                    "{path}.operator: expected \"lt\" or \"gt\", found {}",
                    def.get("operator")
                        .map_or("nothing".into(), Value::to_string)
                ));
            }
        };
        out.insert(name.clone(), LimitType { num_type, operator });
    }
    Ok(out)
}

/// Intersection rules of one item (`item_policy.<item>`).
#[derive(Debug, Clone, Default)]
struct ItemRules {
    valid_actions: ActionSet,
    valid_visibilities: Vec<bool>,
    invalid_roles: Vec<bool>,
}

fn action_set(list: &[&str], actions: &Names) -> ActionSet {
    list.iter()
        .filter_map(|a| actions.get(a))
        .fold(0, |set, i| set | (1 << i))
}

impl Compiled {
    pub(super) fn from_json(v: &Value) -> Res<Compiled> {
        const TOP: [&str; 7] = [
            "roles",
            "items",
            "actions",
            "visibilities",
            "limits",
            "item_policy",
            "role_policy",
        ];
        // Optional keys (not upstream): the group rules.
        const ALLOWED: [&str; 8] = [
            "roles",
            "items",
            "actions",
            "visibilities",
            "limits",
            "item_policy",
            "role_policy",
            "group_policy",
        ];
        let doc = object(v, "the policy")?;
        keys(doc, &TOP, &ALLOWED, "")?;
        let roles = declare(doc, "roles")?;
        let items = declare(doc, "items")?;
        let actions = declare(doc, "actions")?;
        let visibilities = declare(doc, "visibilities")?;
        for role in REQUIRED_ROLES {
            if roles.get(role).is_none() {
                return Err(format!("roles: the roles list must contain '{role}'"));
            }
        }
        if actions.len() > MAX_ACTIONS {
            return Err(format!(
                "actions: at most {MAX_ACTIONS} actions are supported"
            ));
        }
        let limit_types = limit_types(doc)?;
        let groups = GroupRules::from_doc(doc, &roles)?;

        // item_policy
        let mut item_rules = vec![None::<ItemRules>; items.len()];
        let ip = object(
            doc.get("item_policy").unwrap_or(&Value::Null),
            "item_policy",
        )?;
        for (item, rules) in ip {
            let i = known_key(&items, "item", item, "item_policy")?;
            let path = join_path("item_policy", item);
            let rules = object(rules, &path)?;
            const ITEM_KEYS: [&str; 3] =
                ["valid_role_actions", "valid_visibilities", "invalid_roles"];
            keys(rules, &ITEM_KEYS, &ITEM_KEYS, &path)?;
            let field = |k: &str| rules.get(k).unwrap_or(&Value::Null);
            let acts = string_list(
                field("valid_role_actions"),
                &format!("{path}.valid_role_actions"),
                known(&actions, "action"),
            )?;
            let vis = string_list(
                field("valid_visibilities"),
                &format!("{path}.valid_visibilities"),
                known(&visibilities, "visibility"),
            )?;
            let bad_roles = string_list(
                field("invalid_roles"),
                &format!("{path}.invalid_roles"),
                known(&roles, "role"),
            )?;
            item_rules[i] = Some(ItemRules {
                valid_actions: action_set(&acts, &actions),
                valid_visibilities: flags(&vis, &visibilities),
                invalid_roles: flags(&bad_roles, &roles),
            });
        }

        // role_policy
        let rp = object(
            doc.get("role_policy").unwrap_or(&Value::Null),
            "role_policy",
        )?;
        let mut owned_actions = vec![0 as ActionSet; roles.len()];
        let mut other_actions = vec![vec![0 as ActionSet; visibilities.len()]; roles.len()];
        let mut rules: Vec<Option<RoleRules>> = (0..roles.len()).map(|_| None).collect();
        for (role, policy) in rp {
            let r = known_key(&roles, "role", role, "role_policy")?;
            let path = join_path("role_policy", role);
            let policy = object(policy, &path)?;
            const ROLE_KEYS: [&str; 4] = [
                "limits",
                "can_own_items",
                "allowed_actions_for_owned",
                "allowed_actions_for_other",
            ];
            keys(policy, &ROLE_KEYS, &ROLE_KEYS, &path)?;
            let field = |k: &str| policy.get(k).unwrap_or(&Value::Null);
            let own = string_list(
                field("can_own_items"),
                &format!("{path}.can_own_items"),
                known(&items, "item"),
            )?;
            let owned = string_list(
                field("allowed_actions_for_owned"),
                &format!("{path}.allowed_actions_for_owned"),
                known(&actions, "action"),
            )?;
            owned_actions[r] = action_set(&owned, &actions);
            let other_path = format!("{path}.allowed_actions_for_other");
            let other = object(field("allowed_actions_for_other"), &other_path)?;
            for (vis, list) in other {
                let v = known_key(&visibilities, "visibility", vis, &other_path)?;
                let acts = string_list(
                    list,
                    &join_path(&other_path, vis),
                    known(&actions, "action"),
                )?;
                other_actions[r][v] = action_set(&acts, &actions);
            }
            let limits_path = format!("{path}.limits");
            let limits_obj = object(field("limits"), &limits_path)?;
            let mut limits = Vec::new();
            let mut limit_index = HashMap::new();
            for (name, def) in limits_obj {
                let lpath = join_path(&limits_path, name);
                let def = object(def, &lpath)?;
                keys(def, &["type", "limit"], &["type", "limit"], &lpath)?;
                let type_name = def
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{lpath}.type: expected the name of a limit type"))?;
                let lt = limit_types
                    .get(type_name)
                    .ok_or_else(|| format!("{lpath}.type: unknown limit type \"{type_name}\""))?;
                let written = def.get("limit").cloned().unwrap_or(Value::Null);
                if !written.is_number() {
                    return Err(format!(
                        "{lpath}.limit: expected a number, found {}",
                        kind(&written)
                    ));
                }
                let converted = match lt.num_type {
                    NumType::Int => to_int(&written),
                    NumType::Float => to_float(&written),
                };
                let limit = converted
                    .ok_or_else(|| format!("{lpath}.limit: not convertible to {type_name}"))?;
                limit_index.insert(name.clone(), limits.len());
                limits.push(RoleLimit {
                    name: name.clone(),
                    type_name: type_name.to_owned(),
                    num_type: lt.num_type,
                    operator: lt.operator,
                    limit,
                    written,
                });
            }
            rules[r] = Some(RoleRules {
                bypass_visibility: VISIBILITY_BYPASS_ROLES.contains(&role.as_str()),
                can_own: flags(&own, &items),
                limits,
                limit_index,
            });
        }
        let rules = rules
            .into_iter()
            .zip(roles.list())
            .map(|(r, name)| r.ok_or_else(|| format!("role_policy: no entry for role \"{name}\"")))
            .collect::<Res<Vec<_>>>()?;

        // The tables: item_actions of PROTOCOL.md 6.3 for every combination.
        let (ni, nv) = (items.len(), visibilities.len());
        let mut perms = vec![[0 as ActionSet; 2]; roles.len() * ni * nv];
        for (r, role_rules) in rules.iter().enumerate() {
            for (i, item) in item_rules.iter().enumerate() {
                let Some(item) = item else { continue };
                if item.invalid_roles[r] {
                    continue;
                }
                for v in 0..nv {
                    if !item.valid_visibilities[v] {
                        continue;
                    }
                    let cell = &mut perms[(r * ni + i) * nv + v];
                    if role_rules.can_own[i] {
                        cell[OWNED] = owned_actions[r] & item.valid_actions;
                    }
                    cell[OTHER] = other_actions[r][v] & item.valid_actions;
                }
            }
        }
        let vis_kinds = visibilities
            .list()
            .iter()
            .map(|v| match v.as_str() {
                "private" => VisKind::Private,
                "shared" => VisKind::Shared,
                "public" | "unlisted" => VisKind::Open,
                _ => VisKind::Closed,
            })
            .collect();
        Ok(Compiled {
            roles,
            items,
            actions,
            visibilities,
            vis_kinds,
            rules,
            perms,
            groups,
        })
    }

    /// Whether `role` manages groups (`group_policy.manager_roles`); an
    /// unknown role does not.
    pub(super) fn manages_groups(&self, role: &str) -> bool {
        self.roles
            .get(role)
            .is_some_and(|r| self.groups.managers[r])
    }

    pub(super) fn role_names(&self) -> &[String] {
        self.roles.list()
    }

    pub(super) fn role(&self, name: &str) -> Option<usize> {
        self.roles.get(name)
    }

    /// The `[owned, other]` action sets of a role on an item with a
    /// visibility.
    pub(super) fn cell(&self, role: usize, item: usize, vis: usize) -> [ActionSet; 2] {
        let (ni, nv) = (self.items.len(), self.visibilities.len());
        self.perms
            .get((role * ni + item) * nv + vis)
            .copied()
            .unwrap_or_default()
    }

    pub(super) fn decide(&self, q: &AccessQuery<'_>) -> Result<bool, UnknownRole> {
        let r = self.roles.get(q.role).ok_or(UnknownRole)?;
        let vis = self.visibilities.get(q.visibility);
        let is_owner = q.user_id == q.owner;
        let vis_ok = if self.rules[r].bypass_visibility {
            true
        } else {
            match vis.map(|v| self.vis_kinds[v]) {
                Some(VisKind::Private) => is_owner,
                Some(VisKind::Shared) => {
                    is_owner
                        || q.shared_with.contains(&q.user_id)
                        || q.shared_with.contains(&ANONYMOUS_USER_ID)
                        || q.via_group
                }
                Some(VisKind::Open) => true,
                Some(VisKind::Closed) | None => false,
            }
        };
        if !vis_ok {
            return Ok(false);
        }
        let (Some(i), Some(v), Some(a)) = (self.items.get(q.item), vis, self.actions.get(q.action))
        else {
            return Ok(false);
        };
        let kind = if is_owner { OWNED } else { OTHER };
        Ok(self.cell(r, i, v)[kind] & (1 << a) != 0)
    }

    pub(super) fn within_limit(
        &self,
        role: &str,
        limit_name: &str,
        value: &Value,
    ) -> Result<bool, UnknownRole> {
        let r = self.roles.get(role).ok_or(UnknownRole)?;
        let rules = &self.rules[r];
        let Some(limit) = rules.limit_index.get(limit_name).map(|&i| &rules.limits[i]) else {
            return Ok(true);
        };
        let value = match limit.num_type {
            NumType::Int => to_int(value),
            NumType::Float => to_float(value),
        };
        let Some(value) = value else {
            return Ok(false);
        };
        Ok(match limit.operator {
            Operator::Lt => value.lt(&limit.limit),
            Operator::Gt => value.gt(&limit.limit),
        })
    }
}

fn flags(list: &[&str], names: &Names) -> Vec<bool> {
    let mut out = vec![false; names.len()];
    for n in list {
        if let Some(i) = names.get(n) {
            out[i] = true;
        }
    }
    out
}
