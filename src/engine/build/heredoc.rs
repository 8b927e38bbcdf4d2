//! Here-documents where parse-dockerfile 0.1.9 does not read them: later in a RUN's line
//! (a pre-processing of the Dockerfile's text), and the delimiters of a line's documents
//! (COPY names its files after them).

/// The Dockerfile with each RUN whose here-document starts later in its line
/// (`RUN cat <<EOF > /x`) given the same operator in front (`RUN <<EOF cat <<EOF > /x`):
/// parse-dockerfile 0.1.9 reads a here-document only right after RUN, and would read the
/// document's lines as instructions; so wrapped, the document is RUN's, and `run::script` hands
/// the command and the document to the shell as written. Line numbers do not change.
pub(super) fn wrap_inline_heredocs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let is_run = trimmed.len() > 4
            && trimmed[..3].eq_ignore_ascii_case("RUN")
            && trimmed[3..].starts_with([' ', '\t']);
        if is_run {
            let args = trimmed[3..].trim_start();
            let at = line.len() - args.len();
            if !args.starts_with("<<")
                && !args.starts_with('[')
                && let Some(op) = operators(args).into_iter().next()
            {
                out.push_str(&line[..at]);
                out.push_str(&op);
                out.push(' ');
                out.push_str(args);
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

/// The here-document operators of a shell line, in order (`<<EOF`, `<<-EOF`, `<<'EOF'`).
fn operators(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = line[i..].find("<<") {
        let at = i + p;
        let mut j = at + 2;
        i = j;
        if b.get(j) == Some(&b'<') {
            i = j + 1;
            continue;
        }
        if b.get(j) == Some(&b'-') {
            j += 1;
        }
        let quote = match b.get(j) {
            Some(&q) if q == b'\'' || q == b'"' => {
                j += 1;
                Some(q)
            }
            _ => None,
        };
        let start = j;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
            j += 1;
        }
        if j == start {
            continue;
        }
        if let Some(q) = quote {
            if b.get(j) != Some(&q) {
                continue;
            }
            j += 1;
        }
        out.push(line[at..j].to_string());
        i = j;
    }
    out
}

/// The delimiter words of a line's here-documents, in order.
pub(super) fn delimiters(line: &str) -> Vec<String> {
    operators(line)
        .iter()
        .map(|op| {
            op.trim_start_matches('<')
                .trim_start_matches('-')
                .trim_matches(['\'', '"'])
                .to_string()
        })
        .collect()
}
