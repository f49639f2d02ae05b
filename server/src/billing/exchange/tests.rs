use super::*;

#[test]
fn csv_statements_parse_with_any_column_order() {
    let text = "\u{feff}currency,payment_id,note,amount_minor\r\nCNY,pay_a,\"x, \"\"y\"\"\",250\r\n\r\nCNY,pay_b,,7\n";
    let entries = parse_statement_csv(text, 10).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].payment_id, "pay_a");
    assert_eq!(entries[0].amount_minor, 250);
    assert_eq!(entries[1].amount_minor, 7);
}

#[test]
fn bad_csv_is_typed() {
    let bad = [
        "",
        "payment_id,amount_minor\npay_a,1",
        "payment_id,amount_minor,currency\npay_a,1",
        "payment_id,amount_minor,currency\npay_a,one,CNY",
        "payment_id,amount_minor,currency\n\"pay_a,1,CNY",
        "payment_id,amount_minor,currency\npa\"y,1,CNY",
    ];
    for text in bad {
        assert!(
            matches!(
                parse_statement_csv(text, 10),
                Err(ApiError::MalformedCsv(_))
            ),
            "{text:?}"
        );
    }
    let many = "payment_id,amount_minor,currency\npay_a,1,CNY\npay_b,1,CNY\n";
    assert!(matches!(
        parse_statement_csv(many, 1),
        Err(ApiError::InvalidField(_))
    ));
}

#[test]
fn signatures_cover_timestamp_and_body() {
    let e = BillingEndpoint::new(
        "http://127.0.0.1:1/",
        b"0123456789abcdef",
        Duration::from_secs(1),
    )
    .unwrap();
    let a = e.signature(1, "{}");
    assert!(a.starts_with("v1=") && a.len() == 3 + 64);
    assert_ne!(a, e.signature(2, "{}"));
    assert_ne!(a, e.signature(1, "{ }"));
    assert!(BillingEndpoint::new("ftp://x/", b"0123456789abcdef", Duration::from_secs(1)).is_err());
    assert!(matches!(
        BillingEndpoint::new("http://x/", b"short", Duration::from_secs(1)),
        Err(BillingConfigError::WeakSecret)
    ));
}
