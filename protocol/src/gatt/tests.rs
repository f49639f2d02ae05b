use super::*;

const MTUS: [u16; 3] = [23, 185, 512];

fn frame(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt)
        .collect()
}

fn send_all(mtu: u16, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut fragmenter = Fragmenter::new(mtu).unwrap();
    frames
        .iter()
        .flat_map(|f| fragmenter.fragment(f).unwrap())
        .collect()
}

#[test]
fn frames_round_trip_at_each_mtu() {
    for mtu in MTUS {
        let max = usize::from(mtu) - ATT_OVERHEAD;
        // Empty, one byte, exactly one fragment, one more, many, the largest.
        let frames: Vec<Vec<u8>> = [0, 1, max - 3, max - 2, max * 3 + 7, MAX_FRAME_LEN]
            .iter()
            .enumerate()
            .map(|(i, len)| frame(*len, i as u8))
            .collect();
        let fragments = send_all(mtu, &frames);
        assert!(fragments.iter().all(|f| f.len() <= max), "mtu {mtu}");
        let mut reassembler = Reassembler::new(mtu).unwrap();
        let got: Vec<Vec<u8>> = fragments
            .iter()
            .filter_map(|f| reassembler.push(f).unwrap())
            .collect();
        assert_eq!(got, frames, "mtu {mtu}");
        reassembler.finish().unwrap();
    }
}

#[test]
fn fragments_fill_the_mtu_and_number_in_sequence() {
    let fragments = send_all(23, &[frame(17 + 19 + 5, 0), frame(3, 1)]);
    let lens: Vec<usize> = fragments.iter().map(Vec::len).collect();
    assert_eq!(lens, vec![20, 20, 6, 6]);
    let headers: Vec<u8> = fragments.iter().map(|f| f[0]).collect();
    assert_eq!(headers, vec![0x80, 0x01, 0x42, 0xC3]);
    assert_eq!(&fragments[0][1..3], &41u16.to_be_bytes());
    // The sequence wraps at 16.
    let many = send_all(23, &vec![Vec::new(); 18]);
    assert_eq!(many[16][0], FLAG_START | FLAG_END);
    assert_eq!(many[17][0], FLAG_START | FLAG_END | 1);
}

#[test]
fn small_mtu_and_large_frames_are_refused_when_sending() {
    assert_eq!(
        Fragmenter::new(22).unwrap_err(),
        GattError::MtuTooSmall { mtu: 22 }
    );
    assert!(Reassembler::new(0).is_err());
    assert_eq!(Fragmenter::new(9000).unwrap().max_fragment_len(), 512);
    assert!(matches!(
        Fragmenter::new(185)
            .unwrap()
            .fragment(&vec![0; MAX_FRAME_LEN + 1]),
        Err(GattError::FrameTooLarge { .. })
    ));
}

fn refuses(mtu: u16, fragments: &[Vec<u8>]) -> GattError {
    let mut reassembler = Reassembler::new(mtu).unwrap();
    for fragment in fragments {
        if let Err(e) = reassembler.push(fragment) {
            assert_eq!(reassembler.push(&fragments[0]), Err(GattError::Broken));
            return e;
        }
    }
    panic!("all fragments accepted");
}

#[test]
fn truncated_fragments_and_frames_are_refused() {
    for mtu in MTUS {
        assert_eq!(
            refuses(mtu, &[vec![]]),
            GattError::Truncated { have: 0, need: 1 }
        );
        assert_eq!(
            refuses(mtu, &[vec![FLAG_START | FLAG_END, 0]]),
            GattError::Truncated { have: 2, need: 3 }
        );
        // The link ends in the middle of a frame.
        let fragments = send_all(mtu, &[frame(1500, 0)]);
        let mut reassembler = Reassembler::new(mtu).unwrap();
        reassembler.push(&fragments[0]).unwrap();
        assert_eq!(
            reassembler.finish(),
            Err(GattError::Truncated {
                have: usize::from(mtu) - 6,
                need: 1500
            })
        );
        // END on a fragment that does not complete the frame.
        let mut cut = fragments.clone();
        cut[1][0] |= FLAG_END;
        assert!(matches!(
            refuses(mtu, &cut),
            GattError::MisplacedEnd { end: true, .. }
        ));
    }
}

#[test]
fn oversized_fragments_and_frames_are_refused() {
    for mtu in MTUS {
        let max = usize::from(mtu) - ATT_OVERHEAD;
        // A fragment cut for a larger MTU.
        let big = send_all(mtu + 1, &[frame(2000, 0)]);
        assert_eq!(
            refuses(mtu, &big),
            GattError::FragmentTooLarge { len: max + 1, max }
        );
        // A declared total above MAX_FRAME_LEN, refused before buffering.
        let mut start = vec![FLAG_START];
        start.extend_from_slice(&((MAX_FRAME_LEN + 1) as u16).to_be_bytes());
        assert_eq!(
            refuses(mtu, &[start]),
            GattError::FrameTooLarge {
                len: MAX_FRAME_LEN + 1,
                max: MAX_FRAME_LEN
            }
        );
        // More data than declared.
        let mut lying = send_all(mtu, &[frame(100, 0)]);
        lying[0][1..3].copy_from_slice(&5u16.to_be_bytes());
        assert!(matches!(
            refuses(mtu, &lying),
            GattError::Overflow { declared: 5, .. }
        ));
        // The completing fragment without END.
        let mut endless = send_all(mtu, &[frame(600, 0)]);
        if let Some(last) = endless.last_mut() {
            last[0] &= !FLAG_END;
        }
        assert!(matches!(
            refuses(mtu, &endless),
            GattError::MisplacedEnd { end: false, .. }
        ));
    }
}

#[test]
fn sequence_errors_are_refused() {
    for mtu in MTUS {
        let fragments = send_all(mtu, &[frame(1500, 0), frame(10, 1)]);
        // A lost fragment.
        let mut lost = fragments.clone();
        lost.remove(1);
        assert_eq!(
            refuses(mtu, &lost),
            GattError::OutOfSequence {
                expected: 1,
                got: 2
            }
        );
        // A repeated fragment.
        let mut repeated = fragments.clone();
        repeated.insert(2, fragments[1].clone());
        assert_eq!(
            refuses(mtu, &repeated),
            GattError::OutOfSequence {
                expected: 2,
                got: 1
            }
        );
        // Swapped fragments.
        let mut swapped = fragments.clone();
        swapped.swap(1, 2);
        assert!(matches!(
            refuses(mtu, &swapped),
            GattError::OutOfSequence { .. }
        ));
        // A first fragment that is not the link's first.
        assert!(matches!(
            refuses(mtu, &fragments[1..]),
            GattError::OutOfSequence { expected: 0, .. }
        ));
    }
}

#[test]
fn continuation_without_start_and_duplicate_start_are_refused() {
    for mtu in MTUS {
        let fragments = send_all(mtu, &[frame(1500, 0)]);
        let mut orphan = fragments[1].clone();
        orphan[0] &= !SEQ_MASK;
        assert_eq!(refuses(mtu, &[orphan]), GattError::ContinuationWithoutStart);
        // A second START (renumbered to be in sequence) while the first
        // frame is incomplete.
        let mut again = fragments[0].clone();
        again[0] = FLAG_START | 1;
        assert!(matches!(
            refuses(mtu, &[fragments[0].clone(), again]),
            GattError::UnexpectedStart { declared: 1500, .. }
        ));
        assert_eq!(
            refuses(mtu, &[vec![0x20]]),
            GattError::ReservedBits { header: 0x20 }
        );
    }
}

#[test]
fn random_and_mutated_fragments_are_refused_without_panicking() {
    // xorshift64*: deterministic, so a failure reproduces.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for round in 0..3_000 {
        let mtu = MTUS[round % 3];
        let mut fragments = send_all(mtu, &[frame(round % 1200, 0), frame(33, 1)]);
        for _ in 0..(next() % 4) {
            let i = (next() as usize) % fragments.len();
            let f = &mut fragments[i];
            match next() % 3 {
                0 if !f.is_empty() => {
                    let at = (next() as usize) % f.len();
                    f[at] ^= next() as u8 | 1;
                }
                1 => f.truncate((next() as usize) % (f.len() + 1)),
                _ => f.extend((0..next() % 40).map(|_| next() as u8)),
            }
        }
        let mut reassembler = Reassembler::new(mtu).unwrap();
        for f in &fragments {
            if let Ok(Some(got)) = reassembler.push(f) {
                assert!(got.len() <= MAX_FRAME_LEN);
            }
        }
        let _ = reassembler.finish();
    }
}
