//! A small SuiteQL subset with a real tokenizer and parser:
//!
//! ```text
//! SELECT <* | expr [[AS] alias], ...> FROM <table> [alias]
//!   [WHERE <cond>] [ORDER BY <expr> [ASC|DESC], ...]
//! cond  := cond OR cond | cond AND cond | NOT cond | ( cond )
//!        | expr <op> literal | expr [NOT] IN (literal, ...) | expr [NOT] LIKE 'pattern'
//!        | expr IS [NOT] NULL
//! expr  := column | table.column | LOWER(expr) | UPPER(expr) | TO_CHAR(expr, 'format')
//!        | SYSDATE
//! literal := 'text' | number | LOWER('..') | UPPER('..') | TO_DATE('..', 'YYYY-MM-DD')
//! ```
//! `FROM dual` is the one-row table. Datetimes are shown in the integration user's time zone
//! (here always Pacific Standard Time, NetSuite's default preference; a real account follows
//! the user's preference, daylight saving included).
//! Anything else is refused with a 400 that says what is not supported, rather than being
//! half-understood. Values come back as strings, NULL columns are left out of the row, and
//! comparisons follow SQL's three-valued logic.

use std::{cmp::Ordering, collections::HashMap, str::FromStr};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use crate::{
    error::ApiError,
    money,
    records::{is_true, mdy, ref_id, str_field},
    store::{Record, Store},
    types::{Family, RecordType},
    world::World,
};

// ---- tokens ---------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// Identifier or keyword, lower-cased.
    Word(String),
    Str(String),
    Num(String),
    Sym(&'static str),
}

fn tokenize(q: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_$#".contains(chars[i]))
            {
                i += 1;
            }
            out.push(Tok::Word(
                chars[start..i]
                    .iter()
                    .collect::<String>()
                    .to_ascii_lowercase(),
            ));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("a string literal is not closed".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let sym = match two.as_str() {
                "<>" => Some("<>"),
                "!=" => Some("!="),
                "<=" => Some("<="),
                ">=" => Some(">="),
                _ => None,
            };
            if let Some(s) = sym {
                out.push(Tok::Sym(s));
                i += 2;
                continue;
            }
            let one = match c {
                ',' => ",",
                '(' => "(",
                ')' => ")",
                '*' => "*",
                '=' => "=",
                '<' => "<",
                '>' => ">",
                '.' => ".",
                ';' => ";",
                '-' => "-",
                '"' => return Err("quoted identifiers are not supported".into()),
                other => return Err(format!("unexpected character '{other}'")),
            };
            out.push(Tok::Sym(one));
            i += 1;
        }
    }
    Ok(out)
}

// ---- syntax tree ----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Col(String),
    Lower(Box<Expr>),
    Upper(Box<Expr>),
    /// `TO_CHAR(expr, format)`, the format already read as chrono's.
    ToChar(Box<Expr>, String),
    Sysdate,
    /// SYSDATE, fixed when the query runs.
    Now(DateTime<Utc>),
}

/// The integration user's time zone (Pacific Standard Time), in seconds east of UTC.
const USER_UTC_OFFSET: i32 = -8 * 3600;

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Num(Decimal),
    Date(NaiveDate),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Cmp(Expr, Op, Lit),
    In(Expr, Vec<Lit>, bool),
    Like(Expr, String, bool),
    IsNull(Expr, bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Columns {
    Star,
    List(Vec<(Expr, Option<String>)>),
}

#[derive(Debug, Clone, PartialEq)]
struct Query {
    columns: Columns,
    table: String,
    alias: Option<String>,
    filter: Option<Cond>,
    order: Vec<(Expr, bool)>,
}

const RESERVED: &[&str] = &[
    "select", "from", "where", "and", "or", "not", "in", "is", "null", "like", "order", "by",
    "asc", "desc", "as", "join", "inner", "left", "right", "outer", "on", "group", "having",
    "union", "fetch", "distinct",
];

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_word() == Some(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), String> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(format!("expected {} {}", kw.to_uppercase(), self.here()))
        }
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(x)) if *x == s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), String> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(format!("expected '{s}' {}", self.here()))
        }
    }

    fn here(&self) -> String {
        match self.peek() {
            None => "at the end of the query".into(),
            Some(Tok::Word(w)) => format!("near '{w}'"),
            Some(Tok::Str(s)) => format!("near '{s}'"),
            Some(Tok::Num(n)) => format!("near {n}"),
            Some(Tok::Sym(s)) => format!("near '{s}'"),
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Word(w)) if !RESERVED.contains(&w.as_str()) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(format!("expected a name {}", self.here())),
        }
    }

    fn query(&mut self) -> Result<Query, String> {
        self.expect_kw("select")?;
        if self.peek_word() == Some("distinct") || self.peek_word() == Some("top") {
            return Err(format!(
                "{} is not supported",
                self.peek_word().unwrap_or("").to_uppercase()
            ));
        }
        let columns = if self.eat_sym("*") {
            Columns::Star
        } else {
            let mut list = Vec::new();
            loop {
                let e = self.expr()?;
                let named = self.eat_kw("as")
                    || matches!(self.peek(), Some(Tok::Word(w)) if !RESERVED.contains(&w.as_str()));
                let alias = if named { Some(self.ident()?) } else { None };
                list.push((e, alias));
                if !self.eat_sym(",") {
                    break;
                }
            }
            Columns::List(list)
        };
        self.expect_kw("from")?;
        let table = self.ident()?;
        let alias = match self.peek_word() {
            Some(w) if !RESERVED.contains(&w) => Some(self.ident()?),
            _ => None,
        };
        if self.peek() == Some(&Tok::Sym(","))
            || matches!(self.peek_word(), Some("join" | "inner" | "left" | "right"))
        {
            return Err("joins are not supported".into());
        }
        let filter = if self.eat_kw("where") {
            Some(self.or()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.eat_kw("order") {
            self.expect_kw("by")?;
            loop {
                let e = self.expr()?;
                let desc = if self.eat_kw("desc") {
                    true
                } else {
                    self.eat_kw("asc");
                    false
                };
                order.push((e, desc));
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        self.eat_sym(";");
        if self.peek().is_some() {
            let what = match self.peek_word() {
                Some(w @ ("group" | "having" | "union" | "fetch")) => {
                    format!("{} is not supported", w.to_uppercase())
                }
                _ => format!("unexpected input {}", self.here()),
            };
            return Err(what);
        }
        Ok(Query {
            columns,
            table,
            alias,
            filter,
            order,
        })
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let name = self.ident()?;
        if name == "sysdate" {
            return Ok(Expr::Sysdate);
        }
        if name == "to_char" && self.eat_sym("(") {
            let inner = self.expr()?;
            self.expect_sym(",")?;
            let format = match self.next() {
                Some(Tok::Str(f)) => char_format(&f)?,
                _ => return Err("TO_CHAR() needs a format".into()),
            };
            self.expect_sym(")")?;
            return Ok(Expr::ToChar(Box::new(inner), format));
        }
        if self.eat_sym("(") {
            let inner = self.expr()?;
            self.expect_sym(")")?;
            return match name.as_str() {
                "lower" => Ok(Expr::Lower(Box::new(inner))),
                "upper" => Ok(Expr::Upper(Box::new(inner))),
                other => Err(format!(
                    "the function {}() is not supported",
                    other.to_uppercase()
                )),
            };
        }
        if self.eat_sym(".") {
            let col = self.ident()?;
            return Ok(Expr::Col(format!("{name}.{col}")));
        }
        Ok(Expr::Col(name))
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut left = self.and()?;
        while self.eat_kw("or") {
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut left = self.not()?;
        while self.eat_kw("and") {
            left = Cond::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.eat_kw("not") {
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        if self.eat_sym("(") {
            let c = self.or()?;
            self.expect_sym(")")?;
            return Ok(c);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Cond, String> {
        let e = self.expr()?;
        if self.eat_kw("is") {
            let negated = self.eat_kw("not");
            self.expect_kw("null")?;
            return Ok(Cond::IsNull(e, negated));
        }
        let negated = self.eat_kw("not");
        if self.eat_kw("in") {
            self.expect_sym("(")?;
            let mut lits = vec![self.literal()?];
            while self.eat_sym(",") {
                lits.push(self.literal()?);
            }
            self.expect_sym(")")?;
            return Ok(Cond::In(e, lits, negated));
        }
        if self.eat_kw("like") {
            return match self.literal()? {
                Lit::Str(p) => Ok(Cond::Like(e, p, negated)),
                _ => Err("LIKE needs a text pattern".into()),
            };
        }
        if negated {
            return Err(format!("expected IN or LIKE after NOT {}", self.here()));
        }
        let op = match self.next() {
            Some(Tok::Sym("=")) => Op::Eq,
            Some(Tok::Sym("<>" | "!=")) => Op::Ne,
            Some(Tok::Sym("<")) => Op::Lt,
            Some(Tok::Sym("<=")) => Op::Le,
            Some(Tok::Sym(">")) => Op::Gt,
            Some(Tok::Sym(">=")) => Op::Ge,
            _ => {
                self.pos -= 1;
                return Err(format!("expected a comparison operator {}", self.here()));
            }
        };
        if self.peek_word() == Some("null") {
            return Err("compare with IS NULL / IS NOT NULL instead of = NULL".into());
        }
        Ok(Cond::Cmp(e, op, self.literal()?))
    }

    fn literal(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Num(n)) => parse_num(&n),
            Some(Tok::Sym("-")) => match self.next() {
                Some(Tok::Num(n)) => parse_num(&format!("-{n}")),
                _ => Err("expected a number after '-'".into()),
            },
            Some(Tok::Word(w)) if matches!(w.as_str(), "lower" | "upper" | "to_date") => {
                self.expect_sym("(")?;
                let text = match self.next() {
                    Some(Tok::Str(s)) => s,
                    _ => return Err(format!("{}() needs a text argument", w.to_uppercase())),
                };
                let lit = match w.as_str() {
                    "lower" => Lit::Str(text.to_lowercase()),
                    "upper" => Lit::Str(text.to_uppercase()),
                    _ => {
                        self.expect_sym(",")?;
                        let format = match self.next() {
                            Some(Tok::Str(f)) => f,
                            _ => return Err("TO_DATE() needs a format".into()),
                        };
                        Lit::Date(to_date(&text, &format)?)
                    }
                };
                self.expect_sym(")")?;
                Ok(lit)
            }
            _ => {
                self.pos -= 1;
                Err(format!("expected a literal value {}", self.here()))
            }
        }
    }
}

fn parse_num(n: &str) -> Result<Lit, String> {
    Decimal::from_str(n)
        .map(Lit::Num)
        .map_err(|_| format!("'{n}' is not a number"))
}

/// An Oracle datetime format as chrono's, for the elements billsync uses.
fn char_format(format: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = format;
    while !rest.is_empty() {
        let upper = rest.to_ascii_uppercase();
        let (element, chrono) = [
            ("YYYY", "%Y"),
            ("HH24", "%H"),
            ("MM", "%m"),
            ("DD", "%d"),
            ("MI", "%M"),
            ("SS", "%S"),
        ]
        .into_iter()
        .find(|(e, _)| upper.starts_with(e))
        .unwrap_or(("", ""));
        if !element.is_empty() {
            out.push_str(chrono);
            rest = &rest[element.len()..];
            continue;
        }
        let c = rest.chars().next().expect("not empty");
        if !" -:/.T".contains(c) {
            return Err(format!("the TO_CHAR format '{format}' is not supported"));
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

fn to_date(text: &str, format: &str) -> Result<NaiveDate, String> {
    let chrono_format = match format.to_ascii_uppercase().as_str() {
        "YYYY-MM-DD" => "%Y-%m-%d",
        "MM/DD/YYYY" => "%m/%d/%Y",
        "DD.MM.YYYY" => "%d.%m.%Y",
        other => return Err(format!("the TO_DATE format '{other}' is not supported")),
    };
    NaiveDate::parse_from_str(text, chrono_format)
        .map_err(|_| format!("'{text}' does not match the date format '{format}'"))
}

// ---- tables and values ----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Number,
    Date,
    Stamp,
}

const CUSTOMER_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Number),
    ("entityid", Kind::Text),
    ("externalid", Kind::Text),
    ("email", Kind::Text),
    ("companyname", Kind::Text),
    ("firstname", Kind::Text),
    ("lastname", Kind::Text),
    ("isperson", Kind::Text),
    ("isinactive", Kind::Text),
    ("subsidiary", Kind::Number),
    ("currency", Kind::Number),
    ("datecreated", Kind::Stamp),
];

const TRANSACTION_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Number),
    ("tranid", Kind::Text),
    ("type", Kind::Text),
    ("status", Kind::Text),
    ("externalid", Kind::Text),
    ("entity", Kind::Number),
    ("trandate", Kind::Date),
    ("createdfrom", Kind::Number),
    ("foreigntotal", Kind::Number),
    ("foreignamountremaining", Kind::Number),
    ("currency", Kind::Number),
    ("lastmodifieddate", Kind::Stamp),
];

/// SuiteQL's account table: `accountsearchdisplayname` is "<number> <name>" and its `copy`
/// twin the bare name, as an account list shows them.
const ACCOUNT_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Number),
    ("acctnumber", Kind::Text),
    ("accountsearchdisplayname", Kind::Text),
    ("accountsearchdisplaynamecopy", Kind::Text),
    ("fullname", Kind::Text),
    ("accttype", Kind::Text),
    ("isinactive", Kind::Text),
];

const ITEM_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Number),
    ("itemid", Kind::Text),
    ("externalid", Kind::Text),
    ("itemtype", Kind::Text),
    ("isinactive", Kind::Text),
];

/// Lists with a name and an inactive flag (department, classification, location, term,
/// payment method).
const NAMED_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Number),
    ("name", Kind::Text),
    ("externalid", Kind::Text),
    ("isinactive", Kind::Text),
];

const SUBSIDIARY_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Number),
    ("name", Kind::Text),
    ("isinactive", Kind::Text),
    ("iselimination", Kind::Text),
    ("currency", Kind::Number),
];

const CURRENCY_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Number),
    ("name", Kind::Text),
    ("symbol", Kind::Text),
    ("isbasecurrency", Kind::Text),
    ("isinactive", Kind::Text),
    ("currencyprecision", Kind::Number),
];

const PERIOD_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Number),
    ("periodname", Kind::Text),
    ("startdate", Kind::Date),
    ("enddate", Kind::Date),
    ("isposting", Kind::Text),
    ("isquarter", Kind::Text),
    ("isyear", Kind::Text),
    ("isadjust", Kind::Text),
    ("isinactive", Kind::Text),
    ("closed", Kind::Text),
    ("arlocked", Kind::Text),
    ("alllocked", Kind::Text),
];

/// Script ids come back upper case.
const CUSTOM_FIELD_COLUMNS: &[(&str, Kind)] = &[
    ("scriptid", Kind::Text),
    ("name", Kind::Text),
    ("fieldtype", Kind::Text),
    ("fieldvaluetype", Kind::Text),
    ("isinactive", Kind::Text),
];

const DUAL_COLUMNS: &[(&str, Kind)] = &[("dummy", Kind::Text)];

/// `<record>subsidiarymap`: which subsidiaries a record may be used in.
const ITEM_MAP: &[(&str, Kind)] = &[("item", Kind::Number), ("subsidiary", Kind::Number)];
const ACCOUNT_MAP: &[(&str, Kind)] = &[("account", Kind::Number), ("subsidiary", Kind::Number)];
const DEPARTMENT_MAP: &[(&str, Kind)] =
    &[("department", Kind::Number), ("subsidiary", Kind::Number)];
const CLASS_MAP: &[(&str, Kind)] = &[
    ("classification", Kind::Number),
    ("subsidiary", Kind::Number),
];
const LOCATION_MAP: &[(&str, Kind)] = &[("location", Kind::Number), ("subsidiary", Kind::Number)];

fn table_columns(table: &str) -> Option<&'static [(&'static str, Kind)]> {
    match table {
        "customer" => Some(CUSTOMER_COLUMNS),
        "transaction" => Some(TRANSACTION_COLUMNS),
        "item" => Some(ITEM_COLUMNS),
        "account" => Some(ACCOUNT_COLUMNS),
        "subsidiary" => Some(SUBSIDIARY_COLUMNS),
        "currency" => Some(CURRENCY_COLUMNS),
        "department" | "classification" | "location" | "term" | "paymentmethod" => {
            Some(NAMED_COLUMNS)
        }
        "accountingperiod" => Some(PERIOD_COLUMNS),
        "customfield" => Some(CUSTOM_FIELD_COLUMNS),
        "dual" => Some(DUAL_COLUMNS),
        "itemsubsidiarymap" => Some(ITEM_MAP),
        "accountsubsidiarymap" => Some(ACCOUNT_MAP),
        "departmentsubsidiarymap" => Some(DEPARTMENT_MAP),
        "classificationsubsidiarymap" => Some(CLASS_MAP),
        "locationsubsidiarymap" => Some(LOCATION_MAP),
        _ => None,
    }
}

/// The subsidiaries a record may be used in: those its `subsidiary` field names (a reference
/// or a collection), or every subsidiary when it names none.
fn subsidiaries_of(store: &Store, rec: &Record) -> Vec<u64> {
    let named: Vec<u64> = match rec.get("subsidiary") {
        Some(Value::Object(m)) if m.contains_key("items") => m["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| ref_id(Some(v))?.parse().ok())
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| ref_id(Some(v))?.parse().ok())
            .collect(),
        other => ref_id(other)
            .and_then(|s| s.parse().ok())
            .into_iter()
            .collect(),
    };
    if named.is_empty() {
        store
            .iter(RecordType::Subsidiary)
            .map(|(id, _)| id)
            .collect()
    } else {
        named
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Text(String),
    Num(Decimal),
    Date(NaiveDate),
    Stamp(DateTime<Utc>),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::Text(s) => s.clone(),
            Val::Num(d) => money::to_text(*d),
            Val::Date(d) => mdy(*d),
            // Datetimes print in the account's date format unless formatted with TO_CHAR.
            Val::Stamp(t) => mdy(t.date_naive()),
        }
    }
}

type Row = HashMap<&'static str, Val>;

fn convert(kind: Kind, v: Option<&Value>) -> Option<Val> {
    let v = v?;
    match kind {
        Kind::Text => match v {
            Value::String(s) if !s.is_empty() => Some(Val::Text(s.clone())),
            Value::Bool(b) => Some(Val::Text(if *b { "T" } else { "F" }.into())),
            _ => None,
        },
        Kind::Number => match v {
            Value::Object(_) => ref_id(Some(v))
                .and_then(|s| Decimal::from_str(&s).ok())
                .map(Val::Num),
            other => money::parse(other).map(Val::Num),
        },
        Kind::Date => v
            .as_str()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .map(Val::Date),
        Kind::Stamp => v
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| Val::Stamp(t.with_timezone(&Utc))),
    }
}

fn flag(rec: &Record, key: &str) -> Value {
    Value::Bool(is_true(rec.get(key)))
}

fn build_rows(w: &World, table: &str) -> Vec<Row> {
    let store = &w.store;
    let mut rows: Vec<(u64, Row)> = Vec::new();
    let mut push = |id: u64, cols: &'static [(&'static str, Kind)], values: Vec<Option<Value>>| {
        let row: Row = cols
            .iter()
            .zip(values)
            .filter_map(|((name, kind), v)| convert(*kind, v.as_ref()).map(|val| (*name, val)))
            .collect();
        rows.push((id, row));
    };
    let get = |rec: &Record, key: &str| rec.get(key).cloned();
    match table {
        "customer" => {
            for (id, r) in store.iter(RecordType::Customer) {
                push(
                    id,
                    CUSTOMER_COLUMNS,
                    vec![
                        Some(json!(id)),
                        get(r, "entityId"),
                        get(r, "externalId"),
                        get(r, "email"),
                        get(r, "companyName"),
                        get(r, "firstName"),
                        get(r, "lastName"),
                        Some(flag(r, "isPerson")),
                        Some(flag(r, "isInactive")),
                        get(r, "subsidiary"),
                        get(r, "currency"),
                        get(r, "dateCreated"),
                    ],
                );
            }
        }
        "transaction" => {
            for rt in RecordType::in_family(Family::Transaction) {
                for (id, r) in store.iter(rt) {
                    let status = if rt == RecordType::ItemFulfillment {
                        r.get("shipStatus")
                    } else {
                        r.get("status")
                    };
                    let remaining = match rt {
                        RecordType::Invoice => get(r, "amountRemaining"),
                        RecordType::CreditMemo => get(r, "unapplied"),
                        _ => None,
                    };
                    let total = get(r, "total").or_else(|| get(r, "payment"));
                    push(
                        id,
                        TRANSACTION_COLUMNS,
                        vec![
                            Some(json!(id)),
                            get(r, "tranId"),
                            rt.tran_code().map(|c| json!(c)),
                            ref_id(status).map(Value::String),
                            get(r, "externalId"),
                            rt.customer_field().and_then(|f| get(r, f)),
                            get(r, "tranDate"),
                            get(r, "createdFrom"),
                            total,
                            remaining,
                            get(r, "currency"),
                            get(r, "lastModifiedDate"),
                        ],
                    );
                }
            }
        }
        "item" => {
            for rt in RecordType::in_family(Family::Item) {
                for (id, r) in store.iter(rt) {
                    push(
                        id,
                        ITEM_COLUMNS,
                        vec![
                            Some(json!(id)),
                            Some(json!(str_field(r, "itemId"))),
                            get(r, "externalId"),
                            rt.item_code().map(|c| json!(c)),
                            Some(flag(r, "isInactive")),
                        ],
                    );
                }
            }
        }
        "account" => {
            for (id, r) in store.iter(RecordType::Account) {
                let name = r
                    .get("acctName")
                    .or_else(|| r.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let number = str_field(r, "acctNumber").to_string();
                let display = if number.is_empty() {
                    name.clone()
                } else {
                    format!("{number} {name}")
                };
                push(
                    id,
                    ACCOUNT_COLUMNS,
                    vec![
                        Some(json!(id)),
                        get(r, "acctNumber"),
                        Some(json!(display)),
                        Some(json!(name)),
                        Some(json!(name)),
                        ref_id(r.get("acctType")).map(|t| json!(t)),
                        Some(flag(r, "isInactive")),
                    ],
                );
            }
        }
        "subsidiary" => {
            for (id, r) in store.iter(RecordType::Subsidiary) {
                push(
                    id,
                    SUBSIDIARY_COLUMNS,
                    vec![
                        Some(json!(id)),
                        get(r, "name"),
                        Some(flag(r, "isInactive")),
                        Some(flag(r, "isElimination")),
                        get(r, "currency"),
                    ],
                );
            }
        }
        "currency" => {
            for (id, r) in store.iter(RecordType::Currency) {
                push(
                    id,
                    CURRENCY_COLUMNS,
                    vec![
                        Some(json!(id)),
                        get(r, "name"),
                        get(r, "symbol"),
                        Some(flag(r, "isBaseCurrency")),
                        Some(flag(r, "isInactive")),
                        Some(get(r, "currencyPrecision").unwrap_or(json!(2))),
                    ],
                );
            }
        }
        "department" | "classification" | "location" | "term" | "paymentmethod" => {
            let rt = match table {
                "department" => RecordType::Department,
                "classification" => RecordType::Classification,
                "location" => RecordType::Location,
                "term" => RecordType::Term,
                _ => RecordType::PaymentMethod,
            };
            for (id, r) in store.iter(rt) {
                push(
                    id,
                    NAMED_COLUMNS,
                    vec![
                        Some(json!(id)),
                        get(r, "name"),
                        get(r, "externalId"),
                        Some(flag(r, "isInactive")),
                    ],
                );
            }
        }
        "accountingperiod" => {
            for p in &w.periods {
                let yes_no = |b: bool| Some(Value::Bool(b));
                push(
                    p.id,
                    PERIOD_COLUMNS,
                    vec![
                        Some(json!(p.id)),
                        Some(json!(p.name)),
                        Some(json!(p.start.to_string())),
                        Some(json!(p.end.to_string())),
                        yes_no(true),
                        yes_no(false),
                        yes_no(false),
                        yes_no(false),
                        yes_no(false),
                        yes_no(p.closed),
                        yes_no(p.ar_locked),
                        yes_no(false),
                    ],
                );
            }
        }
        "customfield" => {
            for (i, f) in w.custom_fields.iter().enumerate() {
                push(
                    i as u64,
                    CUSTOM_FIELD_COLUMNS,
                    vec![
                        Some(json!(f.script_id.to_uppercase())),
                        Some(json!(f.label)),
                        Some(json!(f.kind.code())),
                        Some(json!(f.value_type())),
                        Some(Value::Bool(false)),
                    ],
                );
            }
        }
        "dual" => push(0, DUAL_COLUMNS, vec![Some(json!("X"))]),
        "itemsubsidiarymap"
        | "accountsubsidiarymap"
        | "departmentsubsidiarymap"
        | "classificationsubsidiarymap"
        | "locationsubsidiarymap" => {
            let (types, columns): (Vec<RecordType>, _) = match table {
                "itemsubsidiarymap" => (RecordType::in_family(Family::Item).collect(), ITEM_MAP),
                "accountsubsidiarymap" => (vec![RecordType::Account], ACCOUNT_MAP),
                "departmentsubsidiarymap" => (vec![RecordType::Department], DEPARTMENT_MAP),
                "classificationsubsidiarymap" => (vec![RecordType::Classification], CLASS_MAP),
                _ => (vec![RecordType::Location], LOCATION_MAP),
            };
            for rt in types {
                for (id, r) in store.iter(rt) {
                    for sub in subsidiaries_of(store, r) {
                        push(id, columns, vec![Some(json!(id)), Some(json!(sub))]);
                    }
                }
            }
        }
        _ => {}
    }
    rows.sort_by_key(|(id, _)| *id);
    rows.into_iter().map(|(_, r)| r).collect()
}

// ---- evaluation -----------------------------------------------------------------------------

fn eval(row: &Row, e: &Expr) -> Option<Val> {
    match e {
        Expr::Col(c) => row.get(c.as_str()).cloned(),
        Expr::Lower(inner) => eval(row, inner).map(|v| Val::Text(v.text().to_lowercase())),
        Expr::Upper(inner) => eval(row, inner).map(|v| Val::Text(v.text().to_uppercase())),
        Expr::ToChar(inner, format) => {
            let zone = chrono::FixedOffset::east_opt(USER_UTC_OFFSET).expect("a valid offset");
            eval(row, inner).map(|v| match v {
                Val::Stamp(t) => Val::Text(t.with_timezone(&zone).format(format).to_string()),
                Val::Date(d) => Val::Text(d.format(format).to_string()),
                other => Val::Text(other.text()),
            })
        }
        Expr::Now(t) => Some(Val::Stamp(*t)),
        Expr::Sysdate => None,
    }
}

fn parse_mdy(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%m/%d/%Y").ok()
}

/// Compares a value with a literal the way Oracle's implicit conversions would; `None` when
/// they cannot be compared.
fn compare(v: &Val, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Val::Num(a), Lit::Num(b)) => Some(a.cmp(b)),
        (Val::Num(a), Lit::Str(s)) => Decimal::from_str(s.trim()).ok().map(|b| a.cmp(&b)),
        (Val::Text(a), Lit::Str(b)) => Some(a.as_str().cmp(b.as_str())),
        (Val::Text(a), Lit::Num(b)) => Decimal::from_str(a.trim()).ok().map(|x| x.cmp(b)),
        (Val::Date(a), Lit::Date(b)) => Some(a.cmp(b)),
        (Val::Date(a), Lit::Str(s)) => parse_mdy(s).map(|b| a.cmp(&b)),
        (Val::Stamp(a), Lit::Date(b)) => Some(a.naive_utc().cmp(&b.and_time(Default::default()))),
        (Val::Stamp(a), Lit::Str(s)) => {
            parse_mdy(s).map(|b| a.naive_utc().cmp(&b.and_time(Default::default())))
        }
        _ => None,
    }
}

/// SQL LIKE: `%` any run, `_` one character; case-sensitive as in Oracle.
fn like(text: &str, pattern: &str) -> bool {
    fn go(t: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some(('_', rest)) => !t.is_empty() && go(&t[1..], rest),
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    go(&t, &p)
}

fn test(row: &Row, c: &Cond) -> Option<bool> {
    match c {
        Cond::And(a, b) => match (test(row, a), test(row, b)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Cond::Or(a, b) => match (test(row, a), test(row, b)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Cond::Not(a) => test(row, a).map(|b| !b),
        Cond::Cmp(e, op, lit) => {
            let ord = compare(&eval(row, e)?, lit)?;
            Some(match op {
                Op::Eq => ord == Ordering::Equal,
                Op::Ne => ord != Ordering::Equal,
                Op::Lt => ord == Ordering::Less,
                Op::Le => ord != Ordering::Greater,
                Op::Gt => ord == Ordering::Greater,
                Op::Ge => ord != Ordering::Less,
            })
        }
        Cond::In(e, lits, negated) => {
            let v = eval(row, e)?;
            let results: Vec<Option<Ordering>> = lits.iter().map(|l| compare(&v, l)).collect();
            if results.contains(&Some(Ordering::Equal)) {
                Some(!negated)
            } else if results.iter().all(Option::is_some) {
                Some(*negated)
            } else {
                None
            }
        }
        Cond::Like(e, pattern, negated) => {
            eval(row, e).map(|v| like(&v.text(), pattern) != *negated)
        }
        Cond::IsNull(e, negated) => Some(eval(row, e).is_none() != *negated),
    }
}

fn order_values(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.cmp(y),
        (Val::Date(x), Val::Date(y)) => x.cmp(y),
        (Val::Stamp(x), Val::Stamp(y)) => x.cmp(y),
        _ => a.text().cmp(&b.text()),
    }
}

// ---- execution ------------------------------------------------------------------------------

/// Error for a query NetSuite could not run. NetSuite reports these as 400 with a "Search error
/// occurred" description; the code name used here is unconfirmed.
fn search_error(message: &str) -> ApiError {
    ApiError::new(
        400,
        "INVALID_PARAMETER",
        format!("Invalid search query. Detailed unprocessed description follows. Search error occurred: {message}"),
    )
    .query_param("q")
}

fn unsupported(message: &str) -> ApiError {
    ApiError::new(
        400,
        "INVALID_PARAMETER",
        format!("Invalid search query. This SuiteQL subset cannot run the query: {message}."),
    )
    .query_param("q")
}

/// Rewrites column names to bare, checked names; `table.col` must use the table or its alias.
fn check_expr(e: &mut Expr, q: &Query, columns: &[(&str, Kind)]) -> Result<(), ApiError> {
    match e {
        Expr::Lower(inner) | Expr::Upper(inner) | Expr::ToChar(inner, _) => {
            check_expr(inner, q, columns)
        }
        Expr::Sysdate => {
            *e = Expr::Now(Utc::now());
            Ok(())
        }
        Expr::Now(_) => Ok(()),
        Expr::Col(name) => {
            if let Some((qualifier, col)) = name.split_once('.') {
                if qualifier != q.table && Some(qualifier) != q.alias.as_deref() {
                    return Err(search_error(&format!(
                        "Record '{qualifier}' was not found."
                    )));
                }
                *name = col.to_string();
            }
            if columns.iter().any(|(c, _)| c == name) {
                Ok(())
            } else {
                Err(search_error(&format!(
                    "Field '{name}' for record '{}' was not found.",
                    q.table
                )))
            }
        }
    }
}

fn check_cond(c: &mut Cond, q: &Query, columns: &[(&str, Kind)]) -> Result<(), ApiError> {
    match c {
        Cond::And(a, b) | Cond::Or(a, b) => {
            check_cond(a, q, columns)?;
            check_cond(b, q, columns)
        }
        Cond::Not(a) => check_cond(a, q, columns),
        Cond::Cmp(e, _, _) | Cond::In(e, _, _) | Cond::Like(e, _, _) | Cond::IsNull(e, _) => {
            check_expr(e, q, columns)
        }
    }
}

fn parse(text: &str) -> Result<Query, String> {
    let toks = tokenize(text)?;
    let mut parser = Parser { toks, pos: 0 };
    parser.query()
}

/// The query's table, for permission checks before running it.
pub(crate) fn table_of(text: &str) -> Option<String> {
    parse(text).ok().map(|q| q.table)
}

/// Runs a query and returns one page of rows plus the total row count.
pub(crate) fn run(
    world: &World,
    text: &str,
    limit: usize,
    offset: usize,
) -> Result<(Vec<Value>, usize), ApiError> {
    let mut q = parse(text).map_err(|e| unsupported(&e))?;
    let columns = table_columns(&q.table)
        .ok_or_else(|| search_error(&format!("Record '{}' was not found.", q.table)))?;
    let snapshot = q.clone();
    if let Columns::List(list) = &mut q.columns {
        for (e, _) in list.iter_mut() {
            check_expr(e, &snapshot, columns)?;
        }
    }
    if let Some(f) = &mut q.filter {
        check_cond(f, &snapshot, columns)?;
    }
    // ORDER BY may name a select-list alias.
    let aliases: HashMap<String, Expr> = match &q.columns {
        Columns::List(list) => list
            .iter()
            .filter_map(|(e, a)| a.clone().map(|a| (a, e.clone())))
            .collect(),
        Columns::Star => HashMap::new(),
    };
    for (e, _) in q.order.iter_mut() {
        if let Expr::Col(name) = e {
            if let Some(target) = aliases.get(name.as_str()) {
                *e = target.clone();
                continue;
            }
        }
        check_expr(e, &snapshot, columns)?;
    }

    let mut rows: Vec<Row> = build_rows(world, &q.table)
        .into_iter()
        .filter(|r| q.filter.as_ref().is_none_or(|f| test(r, f) == Some(true)))
        .collect();
    if !q.order.is_empty() {
        rows.sort_by(|a, b| {
            for (e, desc) in &q.order {
                // Oracle puts NULLs last when ascending and first when descending.
                let ord = match (eval(a, e), eval(b, e)) {
                    (Some(x), Some(y)) => order_values(&x, &y),
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (None, None) => Ordering::Equal,
                };
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }
    let total = rows.len();
    let projection: Vec<(String, Expr)> = match &q.columns {
        Columns::Star => columns
            .iter()
            .map(|(c, _)| (c.to_string(), Expr::Col(c.to_string())))
            .collect(),
        Columns::List(list) => {
            let mut unnamed = 0;
            list.iter()
                .map(|(e, alias)| {
                    let name = match (alias, e) {
                        (Some(a), _) => a.clone(),
                        (None, Expr::Col(c)) => c.clone(),
                        // Unnamed expressions come back as expr1, expr2, ... (unconfirmed).
                        (None, _) => {
                            unnamed += 1;
                            format!("expr{unnamed}")
                        }
                    };
                    (name, e.clone())
                })
                .collect()
        }
    };
    let items = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|row| {
            let mut out = Map::new();
            out.insert("links".into(), json!([]));
            for (name, e) in &projection {
                if let Some(v) = eval(row, e) {
                    out.insert(name.clone(), Value::String(v.text()));
                }
            }
            Value::Object(out)
        })
        .collect();
    Ok((items, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_strings_with_escaped_quotes() {
        let toks = tokenize("SELECT id FROM customer WHERE companyname = 'O''Brien & Co'").unwrap();
        assert_eq!(toks.last(), Some(&Tok::Str("O'Brien & Co".into())));
        assert!(tokenize("SELECT 'open").is_err());
    }

    #[test]
    fn parses_the_supported_grammar() {
        let q = parse(
            "select c.id, LOWER(email) as e from customer c where (isinactive = 'F' or id in (1, 2)) \
             and email is not null and not entityid like 'X%' order by e desc, id",
        )
        .unwrap();
        assert_eq!(q.table, "customer");
        assert_eq!(q.alias.as_deref(), Some("c"));
        assert_eq!(q.order.len(), 2);
        assert!(matches!(q.filter, Some(Cond::And(_, _))));
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for bad in [
            "SELECT DISTINCT id FROM customer",
            "SELECT id FROM customer c JOIN transaction t ON t.entity = c.id",
            "SELECT COUNT(id) FROM customer",
            "SELECT id FROM customer GROUP BY id",
            "SELECT id FROM customer WHERE email = NULL",
            "SELECT id FROM customer WHERE",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn like_matches_wildcards() {
        assert!(like("INV-2026-001", "INV-%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abc", "a_"));
        assert!(like("", "%"));
    }

    #[test]
    fn three_valued_logic_drops_unknown_rows() {
        let row: Row = HashMap::from([("id", Val::Num(Decimal::ONE))]);
        let email_is_x = Cond::Cmp(Expr::Col("email".into()), Op::Eq, Lit::Str("x".into()));
        assert_eq!(test(&row, &email_is_x), None);
        assert_eq!(test(&row, &Cond::Not(Box::new(email_is_x.clone()))), None);
        let id_is_one = Cond::Cmp(Expr::Col("id".into()), Op::Eq, Lit::Num(Decimal::ONE));
        assert_eq!(
            test(&row, &Cond::Or(Box::new(email_is_x), Box::new(id_is_one))),
            Some(true)
        );
    }

    #[test]
    fn dates_compare_with_to_date_and_default_format() {
        let v = Val::Date(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap());
        let lit = Lit::Date(to_date("2026-01-31", "YYYY-MM-DD").unwrap());
        assert_eq!(compare(&v, &lit), Some(Ordering::Equal));
        assert_eq!(
            compare(&v, &Lit::Str("1/30/2026".into())),
            Some(Ordering::Greater)
        );
        assert_eq!(v.text(), "1/31/2026");
    }
}
