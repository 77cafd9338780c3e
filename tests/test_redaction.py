"""The redactor, exactly: for each way a secret is written, what is left of the text. A value is masked whole and
the text around it is kept as it was, so an operator still reads what failed.

``tests/test_secrets.py`` plants canaries everywhere a secret can hide and shows none comes out; these pin where each
value ends (its quote, its brace, the next ``;``, the line, the next secret's name) and the text kept around it.
"""

from __future__ import annotations

import pytest

from lineage.extract.redact import MASK, escape_invisible, first_line, first_sentence, redact

B = "\\"  # one backslash
Q = '"'


@pytest.mark.parametrize(("text", "kept"), [
    # a plain value: to the next ';' or line end, whatever it holds
    ("Server=tcp:h,1433;Password=p@ss,w&rd} x;Database=d", "Server=tcp:h,1433;Password=***;Database=d"),
    ("Secret : v ; w", "Secret : ***; w"),
    ("token: a; b\nc", "token: ***; b\\nc"),
    ("credentials=c1;credential=c2", "credentials=***;credential=***"),
    ("sasUri=https://a/b?c=d;next", "sasUri=***;next"),
    ("password=", "password=***"),
    # ... or to the next secret's name, masked on its own terms
    ("apiKey=k1 secret=s2", "apiKey=***secret=***"),
    ("SharedAccessSignature=sv=1&sig=2;EndpointSuffix=core", "SharedAccessSignature=***sig=***;EndpointSuffix=core"),
    # a header's value is the whole line
    ("Authorization: Basic abc; def\nX", "Authorization: ***\\nX"),
    ("Cookie: a=b; c=d\nHost: h", "Cookie: ***\\nHost: h"),
    ("authorization=x;y", "authorization=***"),
    ("x-api-key: k1\nok", "x-api-key: ***\\nok"),
    # quoted: to the closing quote, doubled and escaped quotes inside
    ('Password="a;b""c";Database=d', 'Password="***";Database=d'),
    ("Password='it''s;secret';Database=d", "Password='***';Database=d"),
    (f'password="a{B}"b";x=1', 'password="***";x=1'),
    (f'password="a{B * 2}"b";x=1', 'password="***";x=1'),
    ('{"accountKey": "k\\"ey"}', '{"accountKey": "***"}'),
    ("password=\"open", "password=\"***"),
    ('password="";x', 'password="***";x'),
    (f'password="a{B}"";x=1', 'password="***";x=1'),  # the closing quote right after an escaped one
    ("pwd='a''';x", "pwd='***';x"),  # ... or right after a doubled one
    ("password=Xyz;d", "password=***;d"),
    # JSON inside JSON: the value's quotes are as escaped as its name's
    ('{\\"password\\": \\"s3cr\\\\\\"et\\", \\"user\\": \\"u\\"}', '{\\"password\\": \\"***\\", \\"user\\": \\"u\\"}'),
    (f"password={B}\"in{B * 2}\"side{B}\" out", f"password={B}\"***{B}\" out"),
    (f"pwd={B}'a''b{B}';x", f"pwd={B}'***{B}';x"),
    (f"password={B}{Q}{B}{Q} ;x", f"password={B}{Q}***{B}{Q} ;x"),
    (f"password={B * 8}{Q}v;w{B * 8}{Q} y", f"password={B * 8}{Q}***{B * 8}{Q} y"),  # as deep as anyone quotes
    (f"password={B * 9}{Q}v;w{B * 9}{Q} y;z", f"password=***;w{B * 9}{Q} y;z"),  # deeper: a plain value
    (f"x={B * 8}{Q}v;w{B * 8}{Q} y", f"x={B * 8}{Q}v;w{B * 8}{Q} y"),  # no secret's name: nothing to mask
    (f"password={B * 2}", "password=***"),
    (f"password={B}", "password=***"),
    # HTML-escaped quotes
    ("pwd=&quot;a;b&quot;;x=1", "pwd=&quot;***&quot;;x=1"),
    ("pwd=&apos;a;b&apos;;x", "pwd=&apos;***&apos;;x"),
    ("pwd=&#34;a&#34;;x", "pwd=&#34;***&#34;;x"),
    ("pwd=&#39;a&#39;;x", "pwd=&#39;***&#39;;x"),
    ("pwd=&#x22;a&#x22;;x", "pwd=&#x22;***&#x22;;x"),
    ("pwd=&#x27;a&#x27;;x", "pwd=&#x27;***&#x27;;x"),
    ("pwd=&quot;never", "pwd=&quot;***"),
    ("pwd=&quot;a&quot;;note=&quot;b&quot;", "pwd=&quot;***&quot;;note=&quot;b&quot;"),
    # ODBC braces: to the closing brace, '}}' inside
    ("PWD={a;b}}c};UID=u", "PWD={***};UID=u"),
    ("PWD={a}}b};UID=u", "PWD={***};UID=u"),
    ("PWD={a}}};UID=u", "PWD={***};UID=u"),
    ("PWD={a}}b};x={c}", "PWD={***};x={c}"),
    ("PWD={};UID=u", "PWD={***};UID=u"),
    ("PWD={}};UID=u", "PWD={***"),
    ("PWD={never closed", "PWD={***"),
    # XML elements named for a secret
    ("<Password>p</Password> <ConnectionString>x</ConnectionString> <ns:sasToken attr='1'>t</ns:sasToken>",
     "<Password>***</Password> <ConnectionString>x</ConnectionString> <ns:sasToken attr='1'>***</ns:sasToken>"),
    ("<PasswordHint>h</PasswordHint>", "<PasswordHint>h</PasswordHint>"),
    # URLs: user info and query string
    ("https://user:pw@host/path?sv=1&sig=abc def", "https://***@host/path?***"),  # sig= runs to the end
    ("see https://h.blob.core.windows.net/c/f?sp=r&sig=x", "see https://h.blob.core.windows.net/c/f?***"),
    ("ftp://u@host/x", "ftp://***@host/x"),
    ("https://host/x?#frag", "https://host/x?***"),
    ("'https://host/p?q=1' next", "'https://host/p?***' next"),
    ('<a href="https://h/p?k=v">', '<a href="https://h/p?***">'),
    # authorization schemes, tokens, keys
    ("Basic dXNlcjpwYXNz and Bearer *** already", "Basic *** and Bearer *** already"),
    ("Digest abc Negotiate def NTLM ghi HAWK jkl SharedKey acct:mno SharedKeyLite acct:pqr AWS4-HMAC-SHA256 "
     "Credential=x", "Digest *** Negotiate *** NTLM *** HAWK *** SharedKey *** SharedKeyLite *** AWS4-HMAC-SHA256 ***"),
    ("sharedaccesssignature sv=2", "sharedaccesssignature ***"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig rest", "jwt *** rest"),
    ("eyJabcdefgh.ijk.lmn-_=.", "***"),
    ("eyJshort xeyJabcdefghij", "eyJshort xeyJabcdefghij"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY----- after",
     "-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY----- after"),
    ("-----BEGIN CERTIFICATE-----a-----END CERTIFICATE-----b-----BEGIN X-----c",
     "-----BEGIN CERTIFICATE-----***-----END CERTIFICATE-----b-----BEGIN X-----***"),
    ("-----BEGIN PRIVATE KEY-----\nMIIB cut", "-----BEGIN PRIVATE KEY-----***"),
    # nothing secret: kept as it is
    ("Copy failed: table dbo.Sales not found (key column id).",
     "Copy failed: table dbo.Sales not found (key column id)."),
])
def test_each_value_is_masked_whole_and_the_rest_kept(text: str, kept: str) -> None:
    assert redact(text) == kept


@pytest.mark.parametrize(("text", "shown"), [
    ("a\u200bb\x00c\td\u2028e\U000e0001f", "a\\u200bb\\x00c\\td\\u2028e\\U000e0001f"),
    ("first\r\nsecond", "first\\r\\nsecond"),
    ("\x7f\u00ad\u0100\U0001d173", "\\x7f\\xad\u0100\\U0001d173"),  # U+0100 is a letter
])
def test_control_and_invisible_characters_are_shown_as_escapes(text: str, shown: str) -> None:
    assert redact(text) == shown == escape_invisible(text)


def test_text_without_them_is_passed_on_as_it_is() -> None:
    text = "plain text"
    assert escape_invisible(text) is text


@pytest.mark.parametrize(("text", "sentence"), [
    ("Operation failed. Password=x. More.", "Operation failed."),
    ("Done! Next", "Done!"),
    ("Why? Because", "Why?"),
    ("a.b c", "a.b c"),  # a dot inside a word ends nothing
    ("ends.", "ends."),
    ("Line one\nline two", "Line one"),
    ("x\rY", "x"),
    (" lead. trail", "lead."),
    ("no end", "no end"),
    ("  ", ""),
    ("Login failed: Password='a. b'. Retry.", "Login failed: Password='***'."),  # masked before it is cut
])
def test_the_first_sentence_is_what_failed(text: str, sentence: str) -> None:
    assert first_sentence(text) == sentence


def test_the_first_sentence_and_line_are_at_most_300_characters_unless_told() -> None:
    assert first_sentence("x" * 400) == "x" * 300
    assert first_sentence("a" * 10, limit=4) == "aaaa"
    assert first_line(ValueError("y" * 400)) == "y" * 300
    assert first_line(ValueError("abcdef"), limit=3) == "abc"


def test_the_first_line_of_an_error_is_redacted() -> None:
    assert first_line(ValueError("Login failed for token=abc\nat Request(...)")) == "Login failed for token=***"
    assert first_line(ValueError("")) == ""
    assert first_line(ValueError("  \n  ")) == ""


def test_the_mask_is_three_stars() -> None:
    assert MASK == "***"
