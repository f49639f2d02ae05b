use super::*;

/// Runs one frame from the reader to the card and the card's `reply`
/// back, as a PC/SC reader would: returns what each side received.
fn round_trip(card: &mut CardLink, frame: &[u8], reply: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut received = None;
    let mut first = None;
    for command in ReaderLink::exchange_commands(frame).unwrap() {
        match card.command(&command) {
            CardEvent::Respond(bytes) => {
                assert_eq!(ResponseApdu::parse(&bytes).unwrap().status, StatusWord::Ok)
            }
            CardEvent::Frame(f) => {
                received = Some(f);
                first = Some(card.answer(reply.to_vec()));
            }
            CardEvent::Selected | CardEvent::Express(_) => panic!("not an exchange"),
        }
    }
    let mut answer = Vec::new();
    let mut next = ReaderLink::gather(&mut answer, &first.unwrap()).unwrap();
    while let Some(left) = next {
        let CardEvent::Respond(bytes) = card.command(&ReaderLink::get_response(left)) else {
            panic!("GET RESPONSE answers directly");
        };
        next = ReaderLink::gather(&mut answer, &bytes).unwrap();
    }
    (received.unwrap(), answer)
}

fn selected() -> CardLink {
    let mut card = CardLink::new();
    let select = CommandApdu::select_wayfare().encode().unwrap();
    assert_eq!(card.command(&select), CardEvent::Selected);
    card
}

#[test]
fn frames_of_every_size_cross_with_chaining_and_get_response() {
    let mut card = selected();
    for len in [0, 1, 254, 255, 256, 600, 4_000, MAX_FRAME_LEN] {
        let frame: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let reply: Vec<u8> = frame.iter().rev().copied().collect();
        let (got, answer) = round_trip(&mut card, &frame, &reply);
        assert_eq!(got, frame, "{len}");
        assert_eq!(answer, reply, "{len}");
    }
}

#[test]
fn every_refusal_has_its_status_word() {
    let sw = |e: CardEvent| match e {
        CardEvent::Respond(b) => ResponseApdu::parse(&b).unwrap().status,
        other => panic!("expected a response, got {other:?}"),
    };
    let mut card = CardLink::new();
    // Nothing selected yet.
    let exchange = ReaderLink::exchange_commands(b"hi").unwrap().remove(0);
    assert_eq!(
        sw(card.command(&exchange)),
        StatusWord::ConditionsNotSatisfied
    );
    // Another application.
    let mut other = CommandApdu::select_wayfare();
    other.data = vec![0xA0, 0, 0, 0, 3];
    assert_eq!(
        sw(card.command(&other.encode().unwrap())),
        StatusWord::NotFound
    );
    let mut card = selected();
    // Truncated and inconsistent lengths.
    assert_eq!(sw(card.command(&[0x80, 0xD0])), StatusWord::WrongLength);
    assert_eq!(
        sw(card.command(&[0x80, 0xD0, 0, 0, 5, 1, 2])),
        StatusWord::WrongLength
    );
    assert_eq!(
        sw(card.command(&[0x80, 0xD0, 0, 0, 1, 1, 2, 3])),
        StatusWord::WrongLength
    );
    // Unknown instruction and class.
    assert_eq!(
        sw(card.command(&[0x80, 0x12, 0, 0])),
        StatusWord::InsNotSupported
    );
    assert_eq!(
        sw(card.command(&[0x40, 0xD0, 0, 0])),
        StatusWord::ClaNotSupported
    );
    // GET RESPONSE with nothing pending.
    assert_eq!(
        sw(card.command(&ReaderLink::get_response(0))),
        StatusWord::ConditionsNotSatisfied
    );
    // A chain that would exceed the frame limit is refused and dropped.
    let piece = CommandApdu {
        cla: CLA_PROPRIETARY | CLA_CHAINING,
        ins: INS_EXCHANGE,
        p1: 0,
        p2: 0,
        data: vec![7; MAX_SHORT_DATA],
        le: None,
    }
    .encode()
    .unwrap();
    let mut last = StatusWord::Ok;
    for _ in 0..=(MAX_FRAME_LEN / MAX_SHORT_DATA) {
        last = sw(card.command(&piece));
    }
    assert_eq!(last, StatusWord::WrongLength);
    // A deselect (field lost) forgets the session.
    card.deselect();
    assert!(!card.is_selected());
}

#[test]
fn the_reader_refuses_oversized_frames_and_card_errors() {
    assert!(matches!(
        ReaderLink::exchange_commands(&vec![0; MAX_FRAME_LEN + 1]),
        Err(ApduError::FrameTooLarge { .. })
    ));
    let mut answer = Vec::new();
    assert_eq!(
        ReaderLink::gather(&mut answer, &[0x6A, 0x82]),
        Err(ApduError::Refused(StatusWord::NotFound))
    );
    assert!(ReaderLink::gather(&mut answer, &[0x90]).is_err());
    let mut big = vec![0; MAX_FRAME_LEN];
    assert!(ReaderLink::gather(&mut big, &[1, 0x90, 0x00]).is_err());
}

#[test]
fn random_commands_never_panic() {
    let mut card = selected();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 300) as usize;
        let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
        match card.command(&bytes) {
            CardEvent::Frame(f) => assert!(f.len() <= MAX_FRAME_LEN),
            CardEvent::Respond(r) => assert!(r.len() >= 2),
            CardEvent::Express(o) => assert!(o.len() <= MAX_SHORT_DATA),
            CardEvent::Selected => {}
        }
    }
}

#[test]
fn an_express_offer_reaches_the_card_whole_and_only_after_select() {
    let mut card = CardLink::new();
    let offer = vec![0xA5; 200];
    let command = ReaderLink::express_command(&offer).unwrap();
    assert_eq!(
        card.command(&command),
        CardEvent::Respond(ResponseApdu::status(StatusWord::ConditionsNotSatisfied).encode())
    );
    let select = CommandApdu::select_wayfare().encode().unwrap();
    assert_eq!(card.command(&select), CardEvent::Selected);
    assert_eq!(card.command(&command), CardEvent::Express(offer));
    assert!(ReaderLink::express_command(&[0; 256]).is_err());
    assert_eq!(StatusWord::from_bytes(0x69, 0x86), StatusWord::NotAllowed);
}
