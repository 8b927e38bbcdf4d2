//! Dockerfile words: quote removal, backslash escapes and `$VAR`, `${VAR}`, `${VAR:-word}`,
//! `${VAR:+word}` expansion (also without the colon: `${VAR-word}`, `${VAR+word}`, which
//! test only whether the variable is set), as Docker's shell lexer does for ENV, ARG,
//! LABEL, WORKDIR, USER, COPY, ADD, FROM, EXPOSE, VOLUME and STOPSIGNAL. RUN's shell form is
//! not expanded here: the shell does it, with the build's variables in its environment.

use std::cell::Cell;
use std::collections::BTreeMap;

thread_local! {
    /// The Dockerfile's escape character (`# escape=` directive), for this thread's build.
    /// Thread-local rather than an argument: a build runs on its caller's thread from start
    /// to end, and every instruction's expansion (sixteen call sites) reads it; parse-dockerfile
    /// honours the directive for line continuations only, not for the words we expand.
    static ESCAPE: Cell<char> = const { Cell::new('\\') };
}

/// Puts the previous escape character back when dropped.
pub struct EscapeGuard(char);

/// Makes `escape` this thread's escape character until the guard is dropped.
pub fn set_escape(escape: char) -> EscapeGuard {
    EscapeGuard(ESCAPE.replace(escape))
}

impl Drop for EscapeGuard {
    fn drop(&mut self) {
        ESCAPE.set(self.0);
    }
}

/// The variables in scope at an instruction: the stage's ENV over its declared ARGs.
pub type Vars = BTreeMap<String, String>;

/// One word: quotes removed and variables expanded, no splitting on blanks.
pub fn word(text: &str, vars: &Vars) -> Result<String, String> {
    Ok(process(text, vars, false)?.join(" "))
}

/// Words split on unquoted blanks, each with quotes removed and variables expanded.
pub fn words(text: &str, vars: &Vars) -> Result<Vec<String>, String> {
    process(text, vars, true)
}

/// `KEY=VALUE` pairs (ENV, LABEL, ARG's `NAME[=default]`); the legacy one-pair form `KEY
/// value with blanks` when the first word has no `=` and `legacy` allows it. A value is
/// `None` for a bare name (ARG without a default).
pub fn pairs(
    text: &str,
    vars: &Vars,
    legacy: bool,
) -> Result<Vec<(String, Option<String>)>, String> {
    let text = text.trim();
    let first_end = text.find(char::is_whitespace).unwrap_or(text.len());
    if legacy && !text[..first_end].contains('=') && first_end < text.len() {
        let key = word(&text[..first_end], vars)?;
        let value = word(text[first_end..].trim(), vars)?;
        return Ok(vec![(key, Some(value))]);
    }
    let mut out = Vec::new();
    for w in words(text, vars)? {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), Some(v.to_string()))),
            Some(_) => return Err(format!("{w:?}: a name is missing before '='")),
            None => out.push((w, None)),
        }
    }
    Ok(out)
}

fn process(text: &str, vars: &Vars, split: bool) -> Result<Vec<String>, String> {
    let esc = ESCAPE.get();
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    // Whether the current word exists though it may be empty (`""`).
    let mut started = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if split && c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut current));
                    started = false;
                }
                i += 1;
                continue;
            }
            '\'' => {
                let close = find(&chars, i + 1, '\'')
                    .ok_or_else(|| format!("unmatched single quote in {text:?}"))?;
                current.extend(&chars[i + 1..close]);
                i = close + 1;
            }
            '"' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unmatched double quote in {text:?}")),
                        Some('"') => break,
                        Some(&e)
                            if e == esc
                                && matches!(chars.get(i + 1), Some(&n) if n == '"' || n == esc || n == '$') =>
                        {
                            current.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('$') => i = dollar(&chars, i, vars, &mut current)?,
                        Some(&c) => {
                            current.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            c if c == esc => {
                match chars.get(i + 1) {
                    Some(&n) => current.push(n),
                    None => current.push(esc),
                }
                i += 2;
            }
            '$' => i = dollar(&chars, i, vars, &mut current)?,
            c => {
                current.push(c);
                i += 1;
            }
        }
        started = true;
    }
    if started || !split {
        out.push(current);
    }
    Ok(out)
}

fn find(chars: &[char], from: usize, c: char) -> Option<usize> {
    (from..chars.len()).find(|&j| chars[j] == c)
}

/// Expands the variable reference at `chars[at]` (a `$`) into `out`; returns the index
/// after it.
fn dollar(chars: &[char], at: usize, vars: &Vars, out: &mut String) -> Result<usize, String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(at + 1) {
        Some('{') => {
            let close = find(chars, at + 2, '}')
                .ok_or_else(|| "missing '}' in a ${...} expansion".to_string())?;
            let inner: String = chars[at + 2..close].iter().collect();
            let name_end = inner.find(|c: char| !is_name(c)).unwrap_or(inner.len());
            let (name, rest) = inner.split_at(name_end);
            if name.is_empty() {
                return Err(format!("bad substitution: ${{{inner}}}"));
            }
            let value = vars.get(name);
            let (colon, op) = match rest.strip_prefix(':') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let present = value.is_some_and(|v| !colon || !v.is_empty());
            let expanded = match op.chars().next() {
                None if !colon => value.cloned().unwrap_or_default(),
                Some('-') if present => value.cloned().unwrap_or_default(),
                Some('-') => word(&op[1..], vars)?,
                Some('+') if present => word(&op[1..], vars)?,
                Some('+') => String::new(),
                _ => return Err(format!("unsupported modifier in ${{{inner}}}")),
            };
            out.push_str(&expanded);
            Ok(close + 1)
        }
        Some(&c) if is_name(c) => {
            let end = (at + 1..chars.len())
                .find(|&j| !is_name(chars[j]))
                .unwrap_or(chars.len());
            let name: String = chars[at + 1..end].iter().collect();
            out.push_str(vars.get(&name).map(String::as_str).unwrap_or_default());
            Ok(end)
        }
        _ => {
            out.push('$');
            Ok(at + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_escape_directive_is_honoured() {
        let vars = vars();
        {
            let _guard = set_escape('`');
            assert_eq!(word(r"C:\dir\$A", &vars).unwrap(), r"C:\dir\1");
            assert_eq!(
                word("`$A and `` and \"`$A\"", &vars).unwrap(),
                "$A and ` and $A"
            );
        }
        assert_eq!(word(r"\$A", &vars).unwrap(), "$A");
    }

    fn vars() -> Vars {
        [("A", "1"), ("E", ""), ("P", "a b")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expands_the_forms_docker_does() {
        let v = vars();
        assert_eq!(word("$A/${A}x", &v).unwrap(), "1/1x");
        assert_eq!(
            word("${B:-d}-${A:-d}-${E:-d}-${E-d}", &v).unwrap(),
            "d-1-d-"
        );
        assert_eq!(word("${A:+y}-${B:+y}-${E:+y}-${E+y}", &v).unwrap(), "y---y");
        assert_eq!(word("'$A' \"$A\" \\$A $", &v).unwrap(), "$A 1 $A $");
        assert_eq!(
            words("x \"$P\" $P ''", &v).unwrap(),
            ["x", "a b", "a b", ""]
        );
        assert!(word("${A", &v).is_err());
        assert!(word("'x", &v).is_err());
    }

    #[test]
    fn splits_pairs_and_the_legacy_form() {
        let v = vars();
        assert_eq!(
            pairs("K=$A L=\"x y\" M", &v, true).unwrap(),
            [
                ("K".into(), Some("1".into())),
                ("L".into(), Some("x y".into())),
                ("M".into(), None)
            ]
        );
        assert_eq!(
            pairs("K some value $A", &v, true).unwrap(),
            [("K".into(), Some("some value 1".into()))]
        );
    }
}
