//! The human-readable review table printed by `authnzrv policy check FILE`:
//! for each role, its limits and, per item and visibility, the actions it may
//! take on items it owns and on other people's items. Rendered from the
//! compiled tables, so it shows exactly what the server will decide.

use std::fmt::Write as _;

use super::compile::{ActionSet, Compiled, NumType, Operator};

fn actions(c: &Compiled, set: ActionSet) -> String {
    let names: Vec<&str> = c
        .actions
        .list()
        .iter()
        .enumerate()
        .filter(|(i, _)| set & (1 << i) != 0)
        .map(|(_, a)| a.as_str())
        .collect();
    if names.is_empty() {
        "-".to_owned()
    } else {
        names.join(", ")
    }
}

pub(super) fn render(c: &Compiled) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "roles: {}", c.roles.list().join(", "));
    let _ = writeln!(out, "items: {}", c.items.list().join(", "));
    let _ = writeln!(out, "actions: {}", c.actions.list().join(", "));
    let _ = writeln!(out, "visibilities: {}", c.visibilities.list().join(", "));
    let managers: Vec<&str> = c
        .roles
        .list()
        .iter()
        .enumerate()
        .filter(|(r, _)| c.groups.managers[*r])
        .map(|(_, name)| name.as_str())
        .collect();
    let _ = writeln!(
        out,
        "groups: managed by {}; owners {} their members",
        if managers.is_empty() {
            "nobody".to_owned()
        } else {
            managers.join(", ")
        },
        if c.groups.owners_manage_members {
            "manage"
        } else {
            "do not manage"
        }
    );
    let item_w = c
        .items
        .list()
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(4)
        .max(4);
    let vis_w = c
        .visibilities
        .list()
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(10)
        .max(10);
    for (r, role) in c.roles.list().iter().enumerate() {
        let rules = &c.rules[r];
        let _ = writeln!(out);
        let _ = writeln!(out, "role {role}");
        if rules.limits.is_empty() {
            let _ = writeln!(out, "  limits: none");
        } else {
            let _ = writeln!(out, "  limits:");
            for l in &rules.limits {
                let op = match l.operator {
                    Operator::Lt => "<",
                    Operator::Gt => ">",
                };
                let ty = match l.num_type {
                    NumType::Int => "int",
                    NumType::Float => "float",
                };
                let _ = writeln!(
                    out,
                    "    {}: value {op} {} ({} limit, {ty})",
                    l.name, l.written, l.type_name
                );
            }
        }
        let _ = writeln!(
            out,
            "  {:item_w$}  {:vis_w$}  {:40}  others' items",
            "item", "visibility", "own items"
        );
        for (i, item) in c.items.list().iter().enumerate() {
            let mut any = false;
            for (v, vis) in c.visibilities.list().iter().enumerate() {
                let [owned, other] = c.cell(r, i, v);
                if owned == 0 && other == 0 {
                    continue;
                }
                any = true;
                let own = if rules.can_own[i] {
                    actions(c, owned)
                } else {
                    "- (cannot own)".to_owned()
                };
                let _ = writeln!(
                    out,
                    "  {item:item_w$}  {vis:vis_w$}  {own:40}  {}",
                    actions(c, other)
                );
            }
            if !any {
                let _ = writeln!(out, "  {item:item_w$}  {:vis_w$}  nothing", "(any)");
            }
        }
    }
    out
}
