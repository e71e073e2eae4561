//! Reading an annexe 1 as people write it: the CSV Passerelle exports, or the lines of the seed's table (civility, name, email, function, date), each error named by its line.

use super::*;

pub(super) fn civility_of(word: &str) -> Option<&'static str> {
    match word.trim_end_matches('.').to_lowercase().as_str() {
        "madame" | "mme" => Some("Mme"),
        "monsieur" | "m" => Some("M."),
        _ => None,
    }
}

/// "NOM Prénom", "Prénom NOM" or "Madame Prénom NOM": the words written in capitals are the
/// family name.
pub(super) fn split_name(text: &str) -> Option<(Option<String>, String, String)> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let civility = words
        .first()
        .and_then(|w| civility_of(w))
        .map(str::to_owned);
    if civility.is_some() {
        words.remove(0);
    }
    let is_upper =
        |w: &str| w.chars().any(char::is_alphabetic) && !w.chars().any(char::is_lowercase);
    let family: Vec<&str> = words.iter().copied().filter(|w| is_upper(w)).collect();
    let given: Vec<&str> = words.iter().copied().filter(|w| !is_upper(w)).collect();
    if family.is_empty() || given.is_empty() {
        return None;
    }
    Some((civility, family.join(" "), given.join(" ")))
}

pub(super) fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%d/%m/%Y")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d"))
        .ok()
}

pub(super) fn section_of(line: &str) -> Option<List> {
    let lower = line.trim().to_lowercase();
    if lower.starts_with("1 -") || lower.starts_with("1 –") || lower.contains("accès ouvert") {
        Some(List::Open)
    } else if lower.starts_with("2 -") || lower.starts_with("2 –") || lower.contains("clôtur") {
        Some(List::Closed)
    } else {
        None
    }
}

pub(super) fn optional(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Reads an annex: CSV with a header, or the annex's own text. Every unreadable person line
/// is reported with its number; lines without an address (titles, dates) are text.
pub fn parse(text: &str) -> (Vec<Person>, Vec<LineError>) {
    let text = text.trim_start_matches('\u{feff}');
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let header = first.to_lowercase();
    if (header.contains("email") || header.contains("courriel")) && header.contains("nom") {
        parse_csv(text)
    } else {
        parse_lines(text)
    }
}

pub(super) fn parse_lines(text: &str) -> (Vec<Person>, Vec<LineError>) {
    let mut people = Vec::new();
    let mut errors = Vec::new();
    let mut list = List::Open;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if !raw.contains('@') {
            if let Some(section) = section_of(raw) {
                list = section;
            }
            continue;
        }
        let body = raw.trim().trim_start_matches(['-', '•', '*']).trim();
        let separator = if body.contains(';') { ';' } else { ',' };
        let fields: Vec<&str> = body.split(separator).map(str::trim).collect();
        let error = |message: String| LineError { line, message };
        let Some(at) = fields.iter().position(|f| f.contains('@')) else {
            continue;
        };
        if at != 1 {
            errors.push(error(
                "attendu : « NOM Prénom ; adresse ; fonction ; date »".into(),
            ));
            continue;
        }
        let Some((civility, family_name, given_name)) = split_name(fields[0]) else {
            errors.push(error(format!(
                "« {} » : écrivez le nom en capitales et le prénom en minuscules (DUPONT Marie)",
                fields[0]
            )));
            continue;
        };
        let email = match Email::parse(fields[1]) {
            Ok(e) => e,
            Err(_) => {
                errors.push(error(format!("« {} » n'est pas une adresse", fields[1])));
                continue;
            }
        };
        // After the address: the function, then the date. Separated by ";" the fields are
        // fixed; separated by "," (seed 000) the function may hold commas of its own ("…,
        // santé et handicap"), so only a last field that reads as a date is the date.
        let rest = &fields[2..];
        let (function, date) = if separator == ';' {
            let date = match rest.get(1).filter(|d| !d.is_empty()) {
                Some(d) => match parse_date(d) {
                    Some(d) => Some(d),
                    None => {
                        errors.push(error(format!("« {d} » n'est pas une date (JJ/MM/AAAA)")));
                        continue;
                    }
                },
                None => None,
            };
            (optional(rest.first().copied()), date)
        } else {
            match rest.split_last() {
                Some((last, before)) if parse_date(last).is_some() => {
                    (optional(Some(&before.join(", "))), parse_date(last))
                }
                _ => (optional(Some(&rest.join(", "))), None),
            }
        };
        people.push(Person {
            line,
            civility,
            family_name,
            given_name,
            email,
            function,
            date,
            list,
        });
    }
    (people, errors)
}

pub(super) fn parse_csv(text: &str) -> (Vec<Person>, Vec<LineError>) {
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.matches(';').count() >= first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut people = Vec::new();
    let mut errors = Vec::new();
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.to_lowercase()).collect(),
        Err(e) => {
            return (
                people,
                vec![LineError {
                    line: 1,
                    message: format!("en-tête illisible : {e}"),
                }],
            );
        }
    };
    let column = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(email_at), Some(family_at)) = (
        column(&["email", "courriel", "adresse électronique"]),
        column(&["nom"]),
    ) else {
        return (
            people,
            vec![LineError {
                line: 1,
                message: "l'en-tête doit nommer au moins les colonnes « nom » et « email »".into(),
            }],
        );
    };
    let given_at = column(&["prénom", "prenom"]);
    let function_at = column(&["fonction", "qualité", "qualite"]);
    let date_at = column(&["date"]);
    let list_at = column(&["liste", "accès", "acces"]);
    let civility_at = column(&["civilité", "civilite"]);
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(LineError {
                    line: e.position().map(|p| p.line() as usize).unwrap_or(0),
                    message: format!("ligne illisible : {e}"),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        // A cell Passerelle's own export neutralised (`'=…`) reads back as it was.
        let get = |at: Option<usize>| {
            crate::csv_out::restore(at.and_then(|i| record.get(i)).unwrap_or("").trim())
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let error = |message: String| LineError { line, message };
        let email = match Email::parse(get(Some(email_at))) {
            Ok(e) => e,
            Err(_) => {
                errors.push(error(format!(
                    "« {} » n'est pas une adresse",
                    get(Some(email_at))
                )));
                continue;
            }
        };
        let (civility, family_name, given_name) = match given_at {
            Some(_) => (
                optional(Some(get(civility_at))).and_then(|c| civility_of(&c).map(str::to_owned)),
                get(Some(family_at)).to_owned(),
                get(given_at).to_owned(),
            ),
            None => match split_name(get(Some(family_at))) {
                Some(parts) => parts,
                None => {
                    errors.push(error("nom et prénom illisibles".into()));
                    continue;
                }
            },
        };
        if family_name.is_empty() || given_name.is_empty() {
            errors.push(error("le nom et le prénom sont obligatoires".into()));
            continue;
        }
        let date = match get(date_at) {
            "" => None,
            d => match parse_date(d) {
                Some(d) => Some(d),
                None => {
                    errors.push(error(format!("« {d} » n'est pas une date (JJ/MM/AAAA)")));
                    continue;
                }
            },
        };
        let list = match get(list_at).to_lowercase() {
            l if l.starts_with("clôtur") || l.starts_with("clotur") || l == "2" => List::Closed,
            _ => List::Open,
        };
        people.push(Person {
            line,
            civility,
            family_name,
            given_name,
            email,
            function: optional(Some(get(function_at))),
            date,
            list,
        });
    }
    (people, errors)
}
