//! Docs (an arbitrary task's records) from JSONL, JSON, CSV and parquet. The parquet and CSV
//! fixtures and their expected values come from pyarrow/pandas (tests/fixtures/docs/make_fixtures.py).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use syco_data::{load_docs, read_docs_jsonl, write_docs_jsonl, DocFormat, LocatedDoc};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docs").join(name)
}

fn values(docs: &[LocatedDoc]) -> Vec<Value> {
    docs.iter().map(|d| Value::Object(d.doc.clone())).collect()
}

fn expected(name: &str) -> Vec<Value> {
    let text = fs::read_to_string(fixture(name)).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Array(rows) => rows,
        other => panic!("{name}: not an array: {other}"),
    }
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

fn error(path: &Path, format: Option<DocFormat>) -> String {
    match load_docs(path, format) {
        Ok(docs) => panic!("{}: expected an error, loaded {} docs", path.display(), docs.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parquet_rows_are_pyarrows_to_pylist_for_every_codec_and_layout() {
    let want = expected("arc.pylist.json");
    assert_eq!(want.len(), 4);
    for variant in ["snappy", "zstd", "gzip", "none", "v2", "groups"] {
        let docs = load_docs(&fixture(&format!("arc.{variant}.parquet")), None).unwrap();
        let got = values(&docs);
        assert_eq!(got, want, "arc.{variant}.parquet");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(keys(g), keys(w), "arc.{variant}.parquet row {i}: column order");
        }
        assert!(docs.iter().enumerate().all(|(i, d)| d.row == i && d.line.is_none()), "arc.{variant}.parquet: positions");
    }
    // The ARC shape tasks read: a struct of two lists.
    let docs = load_docs(&fixture("arc.snappy.parquet"), Some(DocFormat::Parquet)).unwrap();
    assert_eq!(docs[0].doc["choices"]["label"], json!(["A", "B", "C", "D"]));
    assert_eq!(docs[1].doc["meta"], Value::Null);
    assert_eq!(docs[2].doc["meta"], json!({"source": null, "year": null}));
    assert_eq!(docs[2].doc["spans"], json!([[], [4, null], null]));
    assert_eq!(docs[2].doc["grade"], json!(-9007199254740993i64));
}

#[test]
fn jsonl_records_equal_the_parquet_rows_with_their_lines() {
    let want = expected("arc.pylist.json");
    for format in [None, Some(DocFormat::Jsonl), Some(DocFormat::from_builder("json").unwrap())] {
        let docs = load_docs(&fixture("arc.jsonl"), format).unwrap();
        assert_eq!(values(&docs), want, "{format:?}");
        let positions: Vec<(Option<usize>, usize)> = docs.iter().map(|d| (d.line, d.row)).collect();
        assert_eq!(positions, [(Some(1), 0), (Some(2), 1), (Some(3), 2), (Some(4), 3)]);
    }
}

#[test]
fn parquet_types_without_a_json_form_in_pylist() {
    let docs = load_docs(&fixture("types.parquet"), None).unwrap();
    let got = values(&docs);
    let want = vec![
        json!({"dec": 12.34, "x": null, "day": "2024-01-02", "at": "2024-01-02 03:04:05.006 +00:00", "m": {"a": 1, "b": null}}),
        json!({"dec": -0.05, "x": null, "day": null, "at": null, "m": {}}),
        json!({"dec": null, "x": 1.5, "day": "1969-12-31", "at": null, "m": null}),
    ];
    assert_eq!(got, want);
}

#[test]
fn parquet_errors_name_file_row_and_field() {
    let e = error(&fixture("arc.brotli.parquet"), None);
    assert!(e.contains("arc.brotli.parquet: row 0: field `id`: compressed with BROTLI"), "{e}");
    assert!(e.contains("SNAPPY, GZIP and ZSTD"), "{e}");

    let e = error(&fixture("binary.parquet"), None);
    assert!(e.contains("binary.parquet: row 1: field `blob`: a binary value (2 bytes) that is not UTF-8"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.parquet", "PAR1 not really");
    let e = error(&bad, None);
    assert!(e.contains("bad.parquet: not a readable parquet file"), "{e}");
}

#[test]
fn format_comes_from_extension_then_content() {
    assert_eq!(DocFormat::from_path(Path::new("a/train.parquet")), Some(DocFormat::Parquet));
    assert_eq!(DocFormat::from_path(Path::new("x.JSONL")), Some(DocFormat::Jsonl));
    assert_eq!(DocFormat::from_path(Path::new("x.json")), Some(DocFormat::Json));
    assert_eq!(DocFormat::from_path(Path::new("x.csv")), Some(DocFormat::Csv));
    assert_eq!(DocFormat::from_path(Path::new("x.txt")), None);
    assert_eq!(DocFormat::from_builder("parquet").unwrap(), DocFormat::Parquet);
    assert_eq!(DocFormat::from_builder("csv").unwrap(), DocFormat::Csv);
    let e = DocFormat::from_builder("arrow").unwrap_err().to_string();
    assert!(e.contains("unsupported dataset builder `arrow`") && e.contains("json, csv, parquet"), "{e}");

    // No extension: parquet by its magic bytes, JSON Lines, JSON and CSV by their text.
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("train-00000-of-00001");
    fs::copy(fixture("arc.snappy.parquet"), &pq).unwrap();
    assert_eq!(values(&load_docs(&pq, None).unwrap()), expected("arc.pylist.json"));
    let jl = write(dir.path(), "jl", "{\"a\": 1}\n\n{\"a\": 2}\n");
    assert_eq!(values(&load_docs(&jl, None).unwrap()), [json!({"a": 1}), json!({"a": 2})]);
    let arr = write(dir.path(), "arr", "[{\"a\": 1}]");
    assert_eq!(values(&load_docs(&arr, None).unwrap()), [json!({"a": 1})]);
    let csv = write(dir.path(), "table", "a,b\n1,x\n");
    assert_eq!(values(&load_docs(&csv, None).unwrap()), [json!({"a": 1, "b": "x"})]);

    // A .json file that is not JSON is an error, not a CSV.
    let not_json = write(dir.path(), "t.json", "a,b\n1,2\n");
    let e = error(&not_json, None);
    assert!(e.contains("t.json:1: expected JSON"), "{e}");
    // A parquet file read as text says what it looks like.
    let e = error(&fixture("arc.snappy.parquet"), Some(DocFormat::Jsonl));
    assert!(e.contains("looks like a parquet file"), "{e}");
}

#[test]
fn json_array_or_object_with_one_list_keeps_lines() {
    let dir = tempfile::tempdir().unwrap();
    let arr = write(dir.path(), "a.json", "[\n  {\"q\": \"one\", \"a\": 1},\n\n  {\"q\": \"two\", \"a\": 2}\n]\n");
    let docs = load_docs(&arr, None).unwrap();
    assert_eq!(values(&docs), [json!({"q": "one", "a": 1}), json!({"q": "two", "a": 2})]);
    assert_eq!(docs.iter().map(|d| d.line).collect::<Vec<_>>(), [Some(2), Some(4)]);

    // SQuAD-like: the one list member holds the records.
    let squad =
        write(dir.path(), "s.json", "{\n \"version\": \"1.1\",\n \"data\": [\n  {\"title\": \"t\"},\n  {\"title\": \"u\"}\n ]\n}\n");
    let docs = load_docs(&squad, None).unwrap();
    assert_eq!(values(&docs), [json!({"title": "t"}), json!({"title": "u"})]);
    assert_eq!(docs.iter().map(|d| (d.line, d.row)).collect::<Vec<_>>(), [(Some(4), 0), (Some(5), 1)]);

    let two = write(dir.path(), "two.json", "{\n \"train\": [],\n \"test\": []\n}\n");
    let e = error(&two, None);
    assert!(e.contains("two.json:1: the JSON object has several lists (test, train)"), "{e}");

    let scalar = write(dir.path(), "sc.json", "[\n {\"a\": 1},\n 7\n]");
    let e = error(&scalar, None);
    assert!(e.contains("sc.json:3: record 1: expected a JSON object, got a number"), "{e}");

    let broken = write(dir.path(), "b.json", "[\n {\"a\": 1},\n {\"a\": }\n]");
    let e = error(&broken, None);
    assert!(e.starts_with(&format!("{}:3: invalid JSON", broken.display())), "{e}");
}

#[test]
fn jsonl_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.jsonl", "{\"a\": 1}\n\n{\"a\": 2,}\n");
    let e = error(&bad, None);
    assert!(e.starts_with(&format!("{}:3: invalid JSON at column", bad.display())), "{e}");

    let array = write(dir.path(), "arr.jsonl", "{\"a\": 1}\n[1, 2]\n");
    let e = error(&array, None);
    assert!(e.ends_with("arr.jsonl:2: expected a JSON object (one record per line), got an array"), "{e}");

    let latin1 = dir.path().join("l.jsonl");
    fs::write(&latin1, b"{\"a\": \"ok\"}\n{\"a\": \"caf\xe9\"}\n").unwrap();
    let e = error(&latin1, None);
    assert!(e.contains("l.jsonl:2: invalid UTF-8 at column 11"), "{e}");
}

#[test]
fn csv_is_typed_as_pandas_read_csv_types_it() {
    let docs = load_docs(&fixture("flat.csv"), None).unwrap();
    let want = expected("flat.pandas.json");
    assert_eq!(values(&docs), want);
    // The quoted cell spanning two lines: the record after it starts on line 4.
    assert_eq!(docs.iter().map(|d| d.line).collect::<Vec<_>>(), [Some(2), Some(3), Some(4)]);
}

#[test]
fn csv_inference_cases() {
    let dir = tempfile::tempdir().unwrap();
    let text = "\u{feff}int,float,bool,str,empty,zero_padded,big,nan_word,na,,dup,dup\n\
                1,1,True,a,,007,18446744073709551615,nan,NA,x,p,q\n\
                ,2.5,false,,,010,1,1,None,y,r,s\n\
                -3,-1e3,TRUE, b ,,0,2,inf,n/a,z,t,u\n";
    let path = write(dir.path(), "t.csv", text);
    let docs = load_docs(&path, None).unwrap();
    let got = values(&docs);
    assert_eq!(
        keys(&got[0]),
        ["int", "float", "bool", "str", "empty", "zero_padded", "big", "nan_word", "na", "Unnamed: 9", "dup", "dup.1"]
    );
    assert_eq!(
        got[0],
        json!({"int": 1, "float": 1.0, "bool": true, "str": "a", "empty": null, "zero_padded": 7, "big": 18446744073709551615u64,
               "nan_word": "nan", "na": "NA", "Unnamed: 9": "x", "dup": "p", "dup.1": "q"})
    );
    // Integers stay integers around an empty cell (pandas would make the column float).
    assert_eq!(got[1]["int"], Value::Null);
    assert_eq!(got[2]["int"], json!(-3));
    assert!(got[0]["float"].is_f64() && got[1]["float"] == json!(2.5) && got[2]["float"] == json!(-1000.0));
    assert_eq!((got[1]["bool"].clone(), got[2]["bool"].clone()), (json!(false), json!(true)));
    // Empty cells are null in every column; others keep their text, spaces included.
    assert_eq!(got[1]["str"], Value::Null);
    assert_eq!(got[2]["str"], json!(" b "));
    // JSON has no NaN/inf, so those words leave a column text; "None"/"NA" stay text (answers can be "None").
    assert_eq!((got[1]["nan_word"].clone(), got[2]["nan_word"].clone()), (json!("1"), json!("inf")));
    assert_eq!(got[1]["na"], json!("None"));

    let header_only = write(dir.path(), "h.csv", "a,b\n");
    assert!(load_docs(&header_only, None).unwrap().is_empty());
    let empty = write(dir.path(), "e.csv", "");
    assert!(load_docs(&empty, None).unwrap().is_empty());
}

#[test]
fn csv_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let short = write(dir.path(), "short.csv", "a,b,c\n1,2,3\n\"multi\nline\",5,6\n7,8\n");
    let e = error(&short, None);
    assert!(e.ends_with("short.csv:5: malformed CSV row: 2 fields, the header has 3 (a, b, c)"), "{e}");
    let long = write(dir.path(), "long.txt", "a,b\n1,2,3\n");
    let e = error(&long, Some(DocFormat::Csv));
    assert!(e.contains("long.txt:2: malformed CSV row: 3 fields"), "{e}");
}

#[test]
fn canonical_jsonl_round_trips_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docs.jsonl");
    let mut a = Map::new();
    a.insert("zeta".into(), json!("last letter, first key"));
    a.insert("alpha".into(), json!({"z": 1, "a": [1.5, null, "é\n"]}));
    a.insert("mid".into(), json!(-1));
    let mut b = Map::new();
    b.insert("only".into(), json!(true));
    let docs = vec![a, b];
    write_docs_jsonl(&path, &docs).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.starts_with("{\"zeta\":"), "{text}");
    let back = read_docs_jsonl(&path).unwrap();
    assert_eq!(back, docs);
    assert_eq!(back[0].keys().collect::<Vec<_>>(), ["zeta", "alpha", "mid"]);
    assert_eq!(back[0]["alpha"].as_object().unwrap().keys().collect::<Vec<_>>(), ["z", "a"]);

    // Parquet -> canonical JSONL -> the same docs.
    let from_parquet: Vec<Map<String, Value>> = load_docs(&fixture("arc.zstd.parquet"), None).unwrap().into_iter().map(|d| d.doc).collect();
    write_docs_jsonl(&path, &from_parquet).unwrap();
    assert_eq!(read_docs_jsonl(&path).unwrap(), from_parquet);

    let missing = dir.path().join("nope.jsonl");
    let e = read_docs_jsonl(&missing).unwrap_err().to_string();
    assert!(e.contains("nope.jsonl"), "{e}");
}
