//! An error about bad input is one short line a person can read: the file,
//! the line and column, what was expected, and a short quote of what was
//! found, however large the input.

use checker::{format, Format};

/// The most characters an error line may take.
const MAX_LINE: usize = 300;

/// Reads `text` in `format`, expecting an error; returns its Display after
/// checking it is one short line that starts with `name:line:column: `.
fn short_error(text: &str, format: Format, line: u64, column: u64) -> String {
    assert!(text.len() >= 1 << 20, "the input is {} bytes", text.len());
    let err = format::read(text, "big", Some(format))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.chars().count() < MAX_LINE, "{} chars: {err}", err.len());
    let place = format!("big:{line}:{column}: ");
    assert!(err.starts_with(&place), "expected {place:?}: {err}");
    assert!(err.contains("expected"), "{err}");
    err
}

/// `n` valid EDN op maps, one per line: a write and its completion each.
fn edn_ops(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "{{:process {p}, :type :invoke, :f :write, :value {i}}}\n{{:process {p}, :type :ok, :f :write, :value {i}}}\n",
            p = i % 5
        ));
    }
    text
}

#[test]
fn a_vector_of_vectors_names_the_first_and_quotes_a_little_of_it() {
    // One line of 1 MB: a history of numbers, not of op maps.
    let numbers: Vec<String> = (0..200_000).map(|i| i.to_string()).collect();
    let text = format!("[[{}]]", numbers.join(" "));
    let err = short_error(&text, Format::Edn, 1, 2);
    assert!(err.contains("expected an op map"), "{err}");
    assert!(err.contains("found [0 1 2 3"), "{err}");
}

#[test]
fn a_broken_op_deep_in_a_big_edn_file_names_its_line_and_column() {
    let good = edn_ops(20_000);
    let lines = good.lines().count() as u64;
    let text = format!("[{good}  {{:process 1, :type :invoke, :f :write, :value [1 2}}\n{good}]");
    let err = short_error(&text, Format::Edn, lines + 1, 53);
    assert!(
        err.contains("expected ] to close the vector opened at line"),
        "{err}"
    );
    assert!(err.contains(r#"found "}""#), "{err}");
}

#[test]
fn a_huge_unclosed_string_on_one_line_is_quoted_briefly() {
    let text = format!(
        "({{:process 0, :type :invoke, :f :write, :value \"{}",
        "x".repeat(1 << 20)
    );
    let err = short_error(&text, Format::Edn, 1, 1 + (1 << 20) + 48);
    assert!(
        err.contains("\" to close the string opened at line 1, column 48"),
        "{err}"
    );
}

#[test]
fn a_huge_value_of_the_wrong_type_in_edn_is_shown_cut() {
    let text = format!(
        "{}{{:process [{}], :type :invoke, :f :read}}\n",
        edn_ops(10),
        "7 ".repeat(1 << 19)
    );
    let err = short_error(&text, Format::Edn, 21, 1);
    assert!(
        err.contains("expected :process <integer from 0> or :nemesis, found [7 7 7"),
        "{err}"
    );
}

#[test]
fn a_huge_string_in_a_jsonl_field_is_cut_in_the_message_and_the_quote() {
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!(
            "{{\"index\":{i},\"process\":0,\"type\":\"{}\",\"f\":\"write\",\"value\":{i}}}\n",
            if i % 2 == 0 { "invoke" } else { "ok" }
        ));
    }
    // Line 1001: an index that is a 1 MB string.
    text.push_str(&format!(
        "  {{\"index\":\"{}\",\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}}\n",
        "9".repeat(1 << 20)
    ));
    text.push_str("{\"index\":1001,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n");
    let err = short_error(&text, Format::Jsonl, 1001, 2 + 10 + (1 << 20) + 1);
    assert!(err.contains("invalid type: string"), "{err}");
    assert!(err.contains("expected a history event"), "{err}");
}

#[test]
fn a_huge_malformed_jsonl_line_names_the_column_of_the_fault() {
    let text = format!(
        "{{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":[{} oops]}}\n{{\"index\":1,\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}}\n",
        "1,".repeat(1 << 19)
    );
    let column = text.find("oops").unwrap() as u64 + 1;
    let err = short_error(&text, Format::Jsonl, 1, column);
    assert!(err.contains("1,1,1, oops"), "{err}");
}

#[test]
fn a_pairing_error_names_the_column_of_the_op_on_a_one_line_history() {
    let text = "[{:process 0, :type :invoke, :f :read} {:process 0, :type :invoke, :f :read}]";
    let err = format::read(text, "one.edn", None).unwrap_err().to_string();
    assert!(
        err.starts_with("one.edn:1:40: process 0 invokes again while its op from line 1 (column 2) is still open"),
        "{err}"
    );
}

#[test]
fn a_huge_torn_last_jsonl_line_gives_a_short_warning() {
    let text = format!(
        "{{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}}\n{{\"index\":\"{}\",\"process\"",
        "9".repeat(1 << 20)
    );
    let (history, _) = format::read(&text, "big", Some(Format::Jsonl)).unwrap();
    assert_eq!(history.ops.len(), 1);
    assert_eq!(history.warnings.len(), 1);
    let warning = &history.warnings[0];
    assert!(
        warning.starts_with("big:2: ignored a torn last line"),
        "{warning}"
    );
    assert!(warning.chars().count() < MAX_LINE, "{warning}");
}
