//! Latent arithmetic on the command line: a sum of weighted terms such as
//! `enc(a.png) - enc(b.png) + enc(c.png)` or `0.65*train(3) + 0.35*train(4010)`.
//!
//! A term is an optional `WEIGHT*` and one of: `enc(FILE)` (an image file, encoded),
//! `train(N)` (training image N's latent), `seed(S)` (a draw from the prior), or a bare
//! number (a training index) or file name. Operators stand between spaces, so file names
//! may hold `-` and `+`; inside `enc(...)` a name may hold spaces.

use std::path::PathBuf;

/// Where a term's latent comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Atom {
    File(PathBuf),
    Train(usize),
    Seed(u64),
}

/// weight x the atom's latent.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub weight: f32,
    pub atom: Atom,
}

/// Parses an expression; the error says what was expected where.
pub fn parse(text: &str) -> Result<Vec<Term>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    let mut terms = Vec::new();
    let skip_space = |at: &mut usize| {
        while *at < chars.len() && chars[*at].is_whitespace() {
            *at += 1;
        }
    };
    let mut sign = 1.0f32;
    skip_space(&mut at);
    if at + 1 < chars.len() && chars[at] == '-' && chars[at + 1].is_whitespace() {
        sign = -1.0;
        at += 1;
        skip_space(&mut at);
    }
    loop {
        if at >= chars.len() {
            return Err(if terms.is_empty() {
                "the latent expression is empty: give e.g. `enc(a.png) - enc(b.png) + enc(c.png)`"
                    .into()
            } else {
                format!("`{text}` ends with an operator: a term must follow it")
            });
        }
        let (term, next) = parse_term(&chars, at, text)?;
        terms.push(Term {
            weight: sign * term.weight,
            atom: term.atom,
        });
        at = next;
        skip_space(&mut at);
        if at >= chars.len() {
            return Ok(terms);
        }
        sign = match chars[at] {
            '+' => 1.0,
            '-' => -1.0,
            other => {
                return Err(format!(
                    "`{text}`: expected + or - at character {}, found `{other}` (operators stand between spaces)",
                    at + 1
                ));
            }
        };
        at += 1;
        if at < chars.len() && !chars[at].is_whitespace() {
            return Err(format!(
                "`{text}`: put a space after the operator at character {at}"
            ));
        }
        skip_space(&mut at);
    }
}

/// One term starting at `at`: (term, index after it).
fn parse_term(chars: &[char], start: usize, text: &str) -> Result<(Term, usize), String> {
    let word_end = (start..chars.len())
        .find(|&i| chars[i].is_whitespace())
        .unwrap_or(chars.len());
    let mut at = start;
    let mut weight = 1.0f32;
    if let Some(star) = (start..word_end).find(|&i| chars[i] == '*') {
        let number: String = chars[start..star].iter().collect();
        weight = number
            .parse::<f32>()
            .ok()
            .filter(|w| w.is_finite())
            .ok_or_else(|| format!("`{text}`: `{number}` before `*` is not a number"))?;
        at = star + 1;
    }
    for (name, make) in [("enc(", 0usize), ("train(", 1), ("seed(", 2)] {
        let name: Vec<char> = name.chars().collect();
        if chars[at..].starts_with(&name) {
            let inner_start = at + name.len();
            let close = (inner_start..chars.len())
                .find(|&i| chars[i] == ')')
                .ok_or_else(|| {
                    format!("`{text}`: `(` at character {inner_start} is never closed")
                })?;
            let inner: String = chars[inner_start..close].iter().collect();
            let inner = inner.trim();
            let atom = match make {
                0 if !inner.is_empty() => Atom::File(PathBuf::from(inner)),
                0 => return Err(format!("`{text}`: enc() needs an image file")),
                1 => Atom::Train(inner.parse().map_err(|_| {
                    format!("`{text}`: train({inner}) needs a training-image index")
                })?),
                _ => Atom::Seed(
                    inner
                        .parse()
                        .map_err(|_| format!("`{text}`: seed({inner}) needs a whole number"))?,
                ),
            };
            return Ok((Term { weight, atom }, close + 1));
        }
    }
    let end = (at..chars.len())
        .find(|&i| chars[i].is_whitespace())
        .unwrap_or(chars.len());
    let bare: String = chars[at..end].iter().collect();
    if bare.is_empty() {
        return Err(format!(
            "`{text}`: a weight at character {} has no term after `*`",
            at
        ));
    }
    let atom = match bare.parse::<usize>() {
        Ok(i) => Atom::Train(i),
        Err(_) => Atom::File(PathBuf::from(bare)),
    };
    Ok((Term { weight, atom }, end))
}
