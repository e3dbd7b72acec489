//! One small in-place sort for the plugin's few sorts (member names, list entries,
//! thumbprints, form pairs). The standard library's sorts are fast but large: each
//! element type costs the plugin about 4 KiB of code, this one a few hundred bytes. None
//! of these sorts is on a per-request path longer than a form body's pairs, and every
//! one sorts by the whole value, so a sort that is not stable gives the same result.

/// Sort `v` ascending: a heapsort, O(n log n) in every case, no allocation.
pub fn sort<T: Ord>(v: &mut [T]) {
    let len = v.len();
    // A max-heap first, then the largest moved to the end one at a time.
    for root in (0..len / 2).rev() {
        sift_down(v, root, len);
    }
    for end in (1..len).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

/// Restore the heap below `root` within `v[..end]`.
fn sift_down<T: Ord>(v: &mut [T], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && v.get(child) < v.get(child + 1) {
            child += 1;
        }
        if v.get(root) >= v.get(child) {
            return;
        }
        v.swap(root, child);
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sorts_the_edge_cases() {
        for mut v in [vec![], vec![1], vec![2, 1], vec![1, 1, 1], vec![3, 1, 2, 3, 1], (0..100).rev().collect()] {
            let mut want = v.clone();
            want.sort();
            sort(&mut v);
            assert_eq!(v, want);
        }
    }

    proptest! {
        #[test]
        fn sorts_as_the_standard_sort(mut v in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut want = v.clone();
            want.sort();
            sort(&mut v);
            prop_assert_eq!(v, want);
        }

        #[test]
        fn sorts_strings_as_the_standard_sort(mut v in proptest::collection::vec("[a-c]{0,3}", 0..50)) {
            let mut want = v.clone();
            want.sort();
            sort(&mut v);
            prop_assert_eq!(v, want);
        }
    }
}
