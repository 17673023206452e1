//! The command's own log lines, made safe to show: a webhook's signed payload can carry any
//! bytes, and a value from it that reaches a log field must not move the cursor, clear the
//! screen or forge a second log line on the operator's terminal. (In Lambda the functions log
//! JSON, which escapes them already.)

use std::io::Write;

/// `line` with every control character written out as `\xNN` (ASCII controls but tab, DEL, and
/// the C1 controls U+0080 to U+009F), except the newline that ends it.
pub fn escape_controls(line: &[u8]) -> Vec<u8> {
    let (body, ends_line) = match line.split_last() {
        Some((b'\n', rest)) => (rest, true),
        _ => (line, false),
    };
    let mut out = Vec::with_capacity(line.len() + 8);
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        // C1 controls in UTF-8: 0xC2 then 0x80..=0x9F.
        if b == 0xC2 && body.get(i + 1).is_some_and(|n| (0x80..=0x9F).contains(n)) {
            out.extend_from_slice(format!("\\u{{{:x}}}", body[i + 1]).as_bytes());
            i += 2;
            continue;
        }
        if (b < 0x20 && b != b'\t') || b == 0x7F {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        } else {
            out.push(b);
        }
        i += 1;
    }
    if ends_line {
        out.push(b'\n');
    }
    out
}

/// Standard error with [`escape_controls`] applied to each log event (the formatter writes an
/// event in one call).
pub struct SafeStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SafeStderr {
    type Writer = SafeWriter;

    fn make_writer(&'a self) -> Self::Writer {
        SafeWriter
    }
}

pub struct SafeWriter;

impl Write for SafeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stderr().lock().write_all(&escape_controls(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_written_out_and_the_line_end_kept() {
        let forged = "WARN webhook refused event=\"x\u{1b}[2J\r\nINFO forged line\u{7}\u{9b}1m\"\n";
        let safe = String::from_utf8(escape_controls(forged.as_bytes())).unwrap();
        assert_eq!(
            safe,
            "WARN webhook refused event=\"x\\x1b[2J\\x0d\\x0aINFO forged line\\x07\\u{9b}1m\"\n"
        );
        assert_eq!(escape_controls(b"tab\tstays\n"), b"tab\tstays\n");
        assert_eq!(escape_controls("héllo ✓".as_bytes()), "héllo ✓".as_bytes());
    }
}
