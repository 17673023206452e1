//! The generated site behind [`crate::BillingSim::start_with`]: a catalog, customers (companies
//! and people, some without an address) in the requested currencies, and invoices of every kind
//! Maxio's NetSuite guide names, with their payments, refunds, credit notes and voids played in
//! time order so event ids and timestamps ascend together. Deterministic for a spec.

use std::str::FromStr;

use chrono::Duration;
use rust_decimal::Decimal;

use crate::{
    clock, model::Time, money::cents, rng::Rng, state::State, Address, CollectionMethod,
    ComponentKind, Consolidation, Coupon, DatasetSpec, NewComponent, NewCustomer, NewInvoice,
    NewLine, NewProduct, NewSegment, PaymentKind, TaxRate,
};

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("a literal decimal")
}

struct Catalog {
    starter: u64,
    team: u64,
    business: u64,
    gateway: u64,
    sensor: u64,
    seats: u64,
    support: u64,
    calls: u64,
}

fn catalog(st: &mut State) -> Catalog {
    let product = |st: &mut State,
                   name: &str,
                   code: &str,
                   category: &str,
                   price: &str,
                   months: u32,
                   trial: Option<u32>,
                   desc: &str| {
        st.add_product(
            NewProduct {
                name: name.into(),
                handle: String::new(),
                accounting_code: Some(code.into()),
                item_category: category.into(),
                price: dec(price),
                interval_months: months,
                description: Some(desc.into()),
                trial_days: trial,
            },
            None,
        )
    };
    let software = "Business Software";
    let goods = "Physical Goods";
    let starter = product(
        st,
        "Starter Plan",
        "4000-SAAS-STARTER",
        software,
        "49",
        1,
        Some(14),
        "Starter workspace with a 14-day trial",
    );
    let team = product(
        st,
        "Team Plan",
        "4000-SAAS-TEAM",
        software,
        "149",
        1,
        None,
        "Team workspace, billed monthly",
    );
    let business = product(
        st,
        "Business Plan",
        "4000-SAAS-BIZ",
        software,
        "499",
        1,
        None,
        "Business workspace with SSO and audit logs",
    );
    let gateway = product(
        st,
        "Edge Gateway Appliance",
        "SKU-EGW-200",
        goods,
        "749",
        12,
        None,
        "Edge gateway hardware, leased annually",
    );
    let sensor = product(
        st,
        "Sensor Kit",
        "SKU-SNS-010",
        goods,
        "129",
        12,
        None,
        "Six wireless sensors with mounting hardware",
    );
    let component = |st: &mut State,
                     name: &str,
                     kind: ComponentKind,
                     code: &str,
                     price: &str,
                     unit: &str,
                     category: &str| {
        st.add_component(
            NewComponent {
                name: name.into(),
                handle: String::new(),
                kind,
                accounting_code: Some(code.into()),
                unit_price: dec(price),
                unit_name: unit.into(),
                item_category: category.into(),
            },
            None,
        )
    };
    let seats = component(
        st,
        "API Seats",
        ComponentKind::QuantityBasedComponent,
        "4010-SAAS-SEATS",
        "1.25",
        "seat",
        software,
    );
    let support = component(
        st,
        "Priority Support",
        ComponentKind::OnOffComponent,
        "4020-SUPPORT-PRIO",
        "99",
        "plan",
        "Digital Services",
    );
    let calls = component(
        st,
        "API Calls",
        ComponentKind::MeteredComponent,
        "4030-USAGE-CALLS",
        "0.002",
        "call",
        software,
    );
    Catalog {
        starter,
        team,
        business,
        gateway,
        sensor,
        seats,
        support,
        calls,
    }
}

const FIRST: [&str; 24] = [
    "Harriet", "Priya", "Marcus", "Lena", "Tomás", "Aiko", "Daniel", "Fatima", "Oskar", "Grace",
    "Mateo", "Ingrid", "Samuel", "Chloé", "Ravi", "Nadia", "Elliot", "Yara", "Jonas", "Mei",
    "Kwame", "Sofia", "Declan", "Amara",
];
const LAST: [&str; 24] = [
    "Quill",
    "Raman",
    "Oyelaran",
    "Hoffmann",
    "Alvarez",
    "Tanaka",
    "Brennan",
    "Haddad",
    "Lindqvist",
    "Okafor",
    "Rossi",
    "Nakamura",
    "Fischer",
    "Dubois",
    "Iyer",
    "Kowalski",
    "Moreau",
    "Santos",
    "Weber",
    "Chen",
    "Mensah",
    "Novak",
    "Gallagher",
    "Eze",
];
const COMPANY: [&str; 20] = [
    "Northwind Robotics",
    "Bluefin Outfitters",
    "Falkenried Studio",
    "Copperleaf Analytics",
    "Harbor & Pine",
    "Lumen Fieldworks",
    "Saltmarsh Logistics",
    "Quarry Lane Labs",
    "Brightwater Foods",
    "Ironbark Systems",
    "Meridian Clinics",
    "Tidewell Energy",
    "Kestrel Aerial",
    "Oakhollow Press",
    "Pinnacle Freight",
    "Redfern Health",
    "Silverline Media",
    "Thistle & Rye",
    "Vantage Mills",
    "Willowmere Design",
];
const STREETS: [&str; 10] = [
    "Foundry Street",
    "Marconi Boulevard",
    "Harbor Way",
    "Elm Avenue",
    "Mill Road",
    "Station Square",
    "Canal Street",
    "Orchard Lane",
    "Market Street",
    "Ridge Road",
];

/// Where customers of a currency live, with the tax their invoices carry (none for Oregon).
struct Place {
    country: &'static str,
    state: &'static str,
    city: &'static str,
    zip: &'static str,
    tax: Option<(&'static str, bool)>,
}

fn places(currency: &str) -> Vec<Place> {
    let pl = |country, state, city, zip, tax| Place {
        country,
        state,
        city,
        zip,
        tax,
    };
    match currency {
        "USD" => vec![
            pl("US", "NY", "Albany", "12207", Some(("8", false))),
            pl("US", "OH", "Columbus", "43215", Some(("7.5", false))),
            pl("US", "OR", "Portland", "97214", None),
            pl("US", "CA", "Oakland", "94607", Some(("7.25", false))),
            pl("US", "TX", "Austin", "78701", Some(("6.25", false))),
            pl("US", "MA", "Cambridge", "02139", Some(("6.25", false))),
            pl("US", "WA", "Tacoma", "98402", Some(("6.5", false))),
        ],
        "EUR" => vec![
            pl("DE", "HH", "Hamburg", "22767", Some(("19", true))),
            pl("DE", "BE", "Berlin", "10115", Some(("19", true))),
            pl("FR", "IDF", "Paris", "75011", Some(("20", true))),
            pl("NL", "NH", "Amsterdam", "1015 CJ", Some(("21", true))),
        ],
        "GBP" => vec![pl("GB", "LND", "London", "EC1V 9HX", Some(("20", true)))],
        "CAD" => vec![pl("CA", "ON", "Toronto", "M5V 2T6", Some(("13", false)))],
        _ => vec![pl("US", "OR", "Portland", "97214", None)],
    }
}

fn tax_for(place: &Place) -> Option<TaxRate> {
    let (pct, vat) = place.tax?;
    let pct = dec(pct);
    Some(if vat {
        TaxRate::vat(place.country, pct)
    } else if place.country == "US" {
        TaxRate::us_sales(place.state, pct)
    } else {
        TaxRate {
            title: format!("{} HST", place.state),
            percentage: pct,
            country: place.country.into(),
            subdivision: Some(place.state.into()),
            eu_vat: false,
        }
    })
}

struct CustomerPlan {
    id: u64,
    currency: String,
    tax: Option<TaxRate>,
    company: bool,
    has_address: bool,
}

fn customers(
    st: &mut State,
    rng: &mut Rng,
    spec: &DatasetSpec,
    currencies: &[String],
) -> Vec<CustomerPlan> {
    let n = (spec.invoices / 4).clamp(6, 500).max(currencies.len() * 2);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let currency = currencies[i % currencies.len()].clone();
        let places = places(&currency);
        let place = rng.pick(&places);
        let company = rng.chance(65);
        // People more often leave the address out than companies.
        let has_address = !rng.chance(if company { 5 } else { 35 });
        let first = *rng.pick(&FIRST);
        let last = *rng.pick(&LAST);
        let org = company.then(|| {
            let base = rng.pick(&COMPANY);
            let suffix = match place.country {
                "DE" => "GmbH",
                "FR" => "SAS",
                "NL" => "B.V.",
                "GB" => "Ltd",
                _ => "LLC",
            };
            format!("{base} {suffix}")
        });
        let domain = org
            .as_deref()
            .map(|o| {
                format!(
                    "{}.example.com",
                    crate::state::slug(o.split(' ').next().unwrap_or(o))
                )
            })
            .unwrap_or_else(|| "example.com".into());
        let email = format!(
            "{}.{}{}@{domain}",
            crate::state::slug(first),
            crate::state::slug(last),
            i
        );
        let address = has_address.then(|| Address {
            street: format!("{} {}", rng.range(1, 2400), rng.pick(&STREETS)),
            line2: if rng.chance(30) {
                format!("Suite {}", rng.range(100, 900))
            } else {
                String::new()
            },
            city: place.city.into(),
            state: place.state.into(),
            zip: place.zip.into(),
            country: place.country.into(),
        });
        let vat_number = (company && place.tax.is_some_and(|t| t.1))
            .then(|| format!("{}{:09}", place.country, rng.below(1_000_000_000)));
        let created_days = rng.range(20, 400) as i64;
        let created = clock::at(
            spec.start - Duration::days(created_days),
            rng.range(8, 17) as u32,
            rng.below(60) as u32,
            rng.below(60) as u32,
        );
        let id = st.add_customer(
            NewCustomer {
                first_name: first.into(),
                last_name: last.into(),
                organization: org,
                email,
                cc_emails: (company && rng.chance(30)).then(|| format!("ap{i}@example.com")),
                reference: Some(format!("cust-{:05}", i + 1)),
                phone: Some(format!(
                    "+1 555-{:03}-{:04}",
                    rng.below(1000),
                    rng.below(10_000)
                )),
                vat_number,
                address,
            },
            Some(created),
        );
        out.push(CustomerPlan {
            id,
            currency,
            tax: if has_address { tax_for(place) } else { None },
            company,
            has_address,
        });
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    PaidCard,
    PaidSplit,
    InventoryOpen,
    InventoryPaid,
    ZeroTrial,
    FullyDiscounted,
    Consolidated,
    ConsolidatedProcessing,
    OpenRemittance,
    PartPaidOpen,
    PartiallyRefunded,
    CreditNotedPaid,
    CreditNotedOpen,
    Voided,
}

/// Every kind once first (so even small datasets cover them), then a realistic mix.
const MUST: [Kind; 14] = [
    Kind::PaidCard,
    Kind::InventoryOpen,
    Kind::ZeroTrial,
    Kind::FullyDiscounted,
    Kind::Consolidated,
    Kind::PartiallyRefunded,
    Kind::CreditNotedPaid,
    Kind::Voided,
    Kind::PaidSplit,
    Kind::InventoryPaid,
    Kind::OpenRemittance,
    Kind::ConsolidatedProcessing,
    Kind::PartPaidOpen,
    Kind::CreditNotedOpen,
];

const WEIGHTS: [(Kind, u64); 14] = [
    (Kind::PaidCard, 34),
    (Kind::PaidSplit, 6),
    (Kind::InventoryOpen, 5),
    (Kind::InventoryPaid, 7),
    (Kind::ZeroTrial, 5),
    (Kind::FullyDiscounted, 2),
    (Kind::Consolidated, 4),
    (Kind::ConsolidatedProcessing, 2),
    (Kind::OpenRemittance, 10),
    (Kind::PartPaidOpen, 4),
    (Kind::PartiallyRefunded, 6),
    (Kind::CreditNotedPaid, 5),
    (Kind::CreditNotedOpen, 3),
    (Kind::Voided, 5),
];

fn weighted(rng: &mut Rng) -> Kind {
    let total: u64 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.below(total);
    for (k, w) in WEIGHTS {
        if roll < w {
            return k;
        }
        roll -= w;
    }
    Kind::PaidCard
}

/// What happens to an invoice after it is issued. Amounts are fractions of what is due when
/// the action runs, since the totals exist only once the invoice is priced.
#[derive(Clone, Debug)]
enum Op {
    Issue(Box<NewInvoice>),
    /// Pay this percentage of the amount due (100: all of it).
    Pay(u64, PaymentKind),
    Fail,
    Processing,
    /// Refund this percentage of the first payment.
    Refund(u64),
    /// Credit this percentage of the amount due.
    Credit(u64, &'static str),
    Void(&'static str),
}

struct Action {
    at: Time,
    seq: usize,
    invoice: usize,
    op: Op,
}

fn qty(n: u64) -> Decimal {
    Decimal::from(n)
}

pub(crate) fn generate(st: &mut State, spec: &DatasetSpec) {
    let mut rng = Rng::new(spec.seed);
    let currencies: Vec<String> = if spec.currencies.is_empty() {
        vec!["USD".into()]
    } else {
        spec.currencies
            .iter()
            .map(|c| c.trim().to_ascii_uppercase())
            .collect()
    };
    let cat = catalog(st);
    let people = customers(st, &mut rng, spec, &currencies);
    let days = u64::from(spec.days.max(1));

    let mut actions: Vec<Action> = Vec::new();
    let mut remaining = spec.invoices;
    let mut plan = 0usize;
    while remaining > 0 {
        let mut kind = MUST
            .get(plan)
            .copied()
            .unwrap_or_else(|| weighted(&mut rng));
        let segments = if rng.chance(50) { 2 } else { 3 };
        if matches!(kind, Kind::Consolidated | Kind::ConsolidatedProcessing)
            && remaining < 1 + segments
        {
            kind = Kind::PaidCard;
        }
        // Early plans walk through the currencies so each gets invoices.
        let customer = if plan < currencies.len() * 3 {
            let want = &currencies[plan % currencies.len()];
            people
                .iter()
                .filter(|c| &c.currency == want && (c.has_address || !needs_address(kind)))
                .nth(rng.below(4) as usize)
                .or_else(|| people.iter().find(|c| &c.currency == want))
                .unwrap_or(&people[0])
        } else {
            let mut c = rng.pick(&people);
            for _ in 0..8 {
                if c.has_address || !needs_address(kind) {
                    break;
                }
                c = rng.pick(&people);
            }
            c
        };
        let day = spec.start + Duration::days(rng.below(days) as i64);
        let at = clock::at(
            day,
            rng.range(6, 17) as u32,
            rng.below(60) as u32,
            rng.below(60) as u32,
        );
        let mut inv = NewInvoice::new(customer.id, day);
        inv.currency = customer.currency.clone();
        inv.tax = customer.tax.clone();
        if customer.company && rng.chance(30) {
            inv.po_number = Some(format!("PO-{}", rng.range(10_000, 99_999)));
        }
        let records = match kind {
            Kind::Consolidated | Kind::ConsolidatedProcessing => 1 + segments,
            _ => 1,
        };
        remaining -= records;

        let follow = |rng: &mut Rng, min_s: i64, max_s: i64| {
            clock::normalize(at + Duration::seconds(rng.range(min_s as u64, max_s as u64) as i64))
        };
        let hour = 3600i64;
        let dayi = 86_400i64;
        let mut later: Vec<(Time, Op)> = Vec::new();
        match kind {
            Kind::PaidCard
            | Kind::PaidSplit
            | Kind::OpenRemittance
            | Kind::PartPaidOpen
            | Kind::PartiallyRefunded
            | Kind::CreditNotedPaid
            | Kind::CreditNotedOpen
            | Kind::Voided => {
                plan_lines(&mut rng, &cat, &mut inv);
                if rng.chance(22) {
                    inv.coupon = Some(coupon(&mut rng));
                }
            }
            Kind::InventoryOpen | Kind::InventoryPaid => {
                let (product, price) = if rng.chance(50) {
                    (cat.gateway, 1)
                } else {
                    (cat.sensor, 2)
                };
                inv.lines.push(NewLine::Product {
                    product_id: product,
                    quantity: qty(rng.range(1, 3 * price)),
                });
                inv.lines.push(NewLine::Custom {
                    title: "Freight & handling".into(),
                    description: "Ground freight".into(),
                    quantity: Decimal::ONE,
                    unit_price: qty(rng.range(25, 95)),
                });
                inv.role = Some("signup".into());
                if rng.chance(30) {
                    inv.shipping_address = Some(Address {
                        street: format!(
                            "Dock {}, {} Westbelt Drive",
                            rng.range(1, 9),
                            rng.range(100, 3000)
                        ),
                        line2: String::new(),
                        ..Address::default()
                    })
                    .map(|mut a| {
                        let c = st
                            .customer(customer.id)
                            .and_then(|c| c.address.clone())
                            .unwrap_or_default();
                        a.city = c.city;
                        a.state = c.state;
                        a.zip = c.zip;
                        a.country = c.country;
                        a
                    });
                }
            }
            Kind::ZeroTrial => {
                inv.lines.push(NewLine::Trial {
                    product_id: cat.starter,
                    days: 14,
                });
            }
            Kind::FullyDiscounted => {
                inv.lines.push(NewLine::Product {
                    product_id: cat.team,
                    quantity: Decimal::ONE,
                });
                inv.lines.push(NewLine::Component {
                    component_id: cat.seats,
                    quantity: qty(rng.range(5, 60)),
                });
                inv.coupon = Some(Coupon::Percentage {
                    code: "PILOT100".into(),
                    percentage: dec("100"),
                });
                inv.tax = None;
                inv.role = Some("signup".into());
            }
            Kind::Consolidated | Kind::ConsolidatedProcessing => {
                let segs = (0..segments)
                    .map(|_| {
                        let mut seg = NewInvoice::new(customer.id, day);
                        plan_lines(&mut rng, &cat, &mut seg);
                        NewSegment {
                            lines: seg.lines,
                            ..NewSegment::default()
                        }
                    })
                    .collect();
                inv.consolidation = Consolidation::Parent { segments: segs };
                inv.role = Some("renewal".into());
            }
        }
        match kind {
            Kind::PaidCard | Kind::InventoryPaid => later.push((
                follow(&mut rng, 5, 90),
                Op::Pay(100, PaymentKind::CreditCard),
            )),
            Kind::PaidSplit => {
                inv.collection_method = CollectionMethod::Remittance;
                inv.net_terms = 30;
                let first = *rng.pick(&[
                    PaymentKind::Check,
                    PaymentKind::BankAccount,
                    PaymentKind::CreditCard,
                ]);
                later.push((
                    follow(&mut rng, dayi, 5 * dayi),
                    Op::Pay(rng.range(30, 70), first),
                ));
                later.push((
                    follow(&mut rng, 6 * dayi, 12 * dayi),
                    Op::Pay(100, PaymentKind::BankAccount),
                ));
            }
            Kind::InventoryOpen => {
                later.push((follow(&mut rng, 5, 60), Op::Fail));
            }
            Kind::OpenRemittance => {
                inv.collection_method = CollectionMethod::Remittance;
                inv.net_terms = *rng.pick(&[15, 30, 45]);
            }
            Kind::PartPaidOpen => {
                inv.collection_method = CollectionMethod::Remittance;
                inv.net_terms = 30;
                later.push((
                    follow(&mut rng, 2 * dayi, 6 * dayi),
                    Op::Pay(rng.range(20, 70), PaymentKind::Check),
                ));
            }
            Kind::PartiallyRefunded => {
                later.push((
                    follow(&mut rng, 5, 60),
                    Op::Pay(100, PaymentKind::CreditCard),
                ));
                later.push((
                    follow(&mut rng, dayi, 6 * dayi),
                    Op::Refund(rng.range(5, 50)),
                ));
            }
            Kind::CreditNotedPaid => {
                later.push((
                    follow(&mut rng, hour, 3 * dayi),
                    Op::Credit(rng.range(10, 40), credit_memo(&mut rng)),
                ));
                later.push((
                    follow(&mut rng, 4 * dayi, 8 * dayi),
                    Op::Pay(100, PaymentKind::CreditCard),
                ));
            }
            Kind::CreditNotedOpen => {
                inv.collection_method = CollectionMethod::Remittance;
                inv.net_terms = 30;
                later.push((
                    follow(&mut rng, hour, 3 * dayi),
                    Op::Credit(rng.range(10, 40), credit_memo(&mut rng)),
                ));
            }
            Kind::Voided => {
                inv.collection_method = CollectionMethod::Remittance;
                inv.net_terms = 15;
                later.push((
                    follow(&mut rng, hour, 5 * dayi),
                    Op::Void(VOID_REASONS[rng.below(VOID_REASONS.len() as u64) as usize]),
                ));
            }
            Kind::Consolidated => {
                let how = *rng.pick(&[PaymentKind::CreditCard, PaymentKind::BankAccount]);
                later.push((follow(&mut rng, dayi, 3 * dayi), Op::Pay(100, how)));
            }
            Kind::ConsolidatedProcessing => {
                later.push((follow(&mut rng, hour, 2 * hour), Op::Processing));
                if rng.chance(50) {
                    later.push((
                        follow(&mut rng, 3 * dayi, 5 * dayi),
                        Op::Pay(100, PaymentKind::BankAccount),
                    ));
                }
            }
            Kind::ZeroTrial | Kind::FullyDiscounted => {}
        }
        actions.push(Action {
            at,
            seq: actions.len(),
            invoice: plan,
            op: Op::Issue(Box::new(inv)),
        });
        for (t, op) in later {
            actions.push(Action {
                at: t,
                seq: actions.len(),
                invoice: plan,
                op,
            });
        }
        plan += 1;
    }

    actions.sort_by_key(|a| (a.at, a.seq));
    let mut uids: Vec<Option<String>> = vec![None; plan];
    for a in actions {
        run(st, &mut uids, a);
    }
}

fn needs_address(kind: Kind) -> bool {
    matches!(kind, Kind::InventoryOpen | Kind::InventoryPaid)
}

const VOID_REASONS: [&str; 3] = [
    "Duplicate invoice",
    "Issued in error",
    "Customer cancelled before service start",
];

fn credit_memo(rng: &mut Rng) -> &'static str {
    const MEMOS: [&str; 4] = [
        "Credit for unused seats",
        "Service outage credit",
        "Goodwill credit",
        "Billing correction",
    ];
    MEMOS[rng.below(MEMOS.len() as u64) as usize]
}

fn coupon(rng: &mut Rng) -> Coupon {
    if rng.chance(70) {
        let pct = *rng.pick(&["5", "7.5", "10", "12.5", "15", "20"]);
        Coupon::Percentage {
            code: format!("SAVE{}", pct.replace('.', "")),
            percentage: dec(pct),
        }
    } else {
        let amount = *rng.pick(&["10", "25", "40"]);
        Coupon::FlatAmount {
            code: format!("FLAT{amount}"),
            amount: dec(amount),
        }
    }
}

/// A subscription invoice: a plan, often with components, sometimes a setup fee or an ad-hoc
/// line.
fn plan_lines(rng: &mut Rng, cat: &Catalog, inv: &mut NewInvoice) {
    let product = *rng.pick(&[cat.starter, cat.team, cat.team, cat.business]);
    if rng.chance(12) {
        inv.lines.push(NewLine::Setup {
            product_id: product,
            amount: qty(*rng.pick(&[99, 250, 500])),
        });
    }
    inv.lines.push(NewLine::Product {
        product_id: product,
        quantity: Decimal::ONE,
    });
    if rng.chance(60) {
        inv.lines.push(NewLine::Component {
            component_id: cat.seats,
            quantity: qty(rng.range(3, 250)),
        });
    }
    if rng.chance(20) {
        inv.lines.push(NewLine::Component {
            component_id: cat.support,
            quantity: Decimal::ONE,
        });
    }
    if rng.chance(25) {
        inv.lines.push(NewLine::Component {
            component_id: cat.calls,
            quantity: qty(rng.range(1, 80) * 500),
        });
    }
    if rng.chance(10) {
        inv.lines.push(NewLine::Custom {
            title: "Onboarding workshop (remote, 4h)".into(),
            description: "One-time onboarding workshop".into(),
            quantity: Decimal::ONE,
            unit_price: qty(*rng.pick(&[180, 250, 400])),
        });
    }
}

fn percent_of(amount: Decimal, pct: u64) -> Decimal {
    cents(amount * Decimal::from(pct) / Decimal::ONE_HUNDRED)
}

/// Plays one action. Actions that no longer fit (nothing left due, say) are skipped: the plan
/// is a script, the state decides.
fn run(st: &mut State, uids: &mut [Option<String>], a: Action) {
    let at = Some(a.at);
    if let Op::Issue(spec) = &a.op {
        match st.issue(spec, at) {
            Ok(uid) => uids[a.invoice] = Some(uid),
            Err(e) => tracing::warn!(error = %e, "generated invoice rejected"),
        }
        return;
    }
    let Some(uid) = uids[a.invoice].clone() else {
        return;
    };
    let Some(cur) = st.invoice(&uid).map(|e| e.current.clone()) else {
        return;
    };
    let due = cur.due();
    let result = match a.op {
        Op::Issue(_) => Ok(()),
        Op::Pay(pct, kind) => {
            let amount = if pct >= 100 {
                due
            } else {
                percent_of(due, pct)
            };
            if amount <= Decimal::ZERO {
                return;
            }
            st.pay(&uid, amount, kind, at).map(|_| ())
        }
        Op::Fail if due > Decimal::ZERO => st.failed_payment(&uid, at),
        Op::Fail => Ok(()),
        Op::Processing => st.mark_processing(&uid, at),
        Op::Refund(pct) => {
            let Some(p) = cur.payments.first() else {
                return;
            };
            let amount = percent_of(p.applied, pct).max(Decimal::new(1, 2));
            st.refund(&uid, p.transaction_id, amount.min(p.applied), at)
                .map(|_| ())
        }
        Op::Credit(pct, memo) => {
            let amount = percent_of(due, pct);
            if amount <= Decimal::ZERO {
                return;
            }
            st.credit_note(&uid, amount, memo, at).map(|_| ())
        }
        Op::Void(reason) => st.void(&uid, reason, at),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, invoice = %uid, "generated action rejected");
    }
}
