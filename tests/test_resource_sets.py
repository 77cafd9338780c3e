"""Resource sets and normalization: files are named as the catalog's resource sets are, and qualifiedNames are
normalized rule by rule, as Purview's scanners do it with the account's configuration (field notes §4-5)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lineage.extract.stores import resource_sets
from lineage.extract.stores.resource_sets import ResourceSetConfigError, ResourceSetRules

RULES = ResourceSetRules.default()
VENDORED = Path("contracts/purview/resource-sets/defaultResourceSetRuleConfig-2022-02.json")
A_GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def config(*replacers: dict[str, Any], **path_pattern_config: Any) -> dict[str, Any]:
    """A configuration document of the API's shape holding just ``replacers`` (and whatever else is given)."""
    return {"name": "defaultResourceSetRuleConfig",
            "pathPatternConfig": {"createdBy": "test", "enableDefaultPatterns": True,
                                  "regexReplacers": list(replacers), **path_pattern_config}}


def replacer(name: str, pattern: str, replace_with: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "disabled": False, "regex": {"regexStr": pattern, "options": 8}, "replaceWith": replace_with,
            **extra}


def default_document(shared: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((shared / VENDORED).read_text(encoding="utf-8"))
    return doc


# ------------------------------------------------------------------------------------------ Microsoft's examples


@pytest.mark.parametrize("original", [
    "bing/data/2/QueriesByState_2021-01-12_10-30-00.tsv",
    "bing/data/17/QueriesByState_2020-12-31_23-59-59.tsv",
    "bing/data/0/QueriesByState_2022-02-01_0-0-0.tsv",
])
def test_the_bing_files_group_to_the_resource_set_purviews_copy_lineage_names(original: str) -> None:
    # The real lineage response holds this resource set as the input of a Copy activity.
    assert RULES.group(original) == "bing/data/{N}/QueriesByState_{Year}-{Month}-{Day}_{N}-{N}-{N}.tsv"


def test_a_numbered_folder_becomes_n() -> None:
    assert RULES.group("mycontainer/machinesets/23/foo.parquet") == "mycontainer/machinesets/{N}/foo.parquet"


@pytest.mark.parametrize("original", ["mycontainer/weblogs/en_au/23.json", "mycontainer/weblogs/cy_gb/1004.json",
                                      "mycontainer/weblogs/cy_gb/234.json", "mycontainer/weblogs/de_Ch/23434.json"])
def test_a_locale_folder_and_a_numbered_file_become_loc_and_n(original: str) -> None:
    assert RULES.group(original) == "mycontainer/weblogs/{LOC}/{N}.json"


def test_a_number_in_a_file_name_becomes_n() -> None:
    assert RULES.group("sample-data/data7.csv") == "sample-data/data{N}.csv"


def test_date_number_and_guid_segments_group_as_in_microsofts_display_name_example() -> None:
    grouped = RULES.group(f"sample/my-partitioned-data/2021-01-12/10-30-00-123/{A_GUID}")
    assert grouped == "sample/my-partitioned-data/{Year}-{Month}-{Day}/{N}-{N}-{N}-{N}/{GUID}"


@pytest.mark.parametrize("guid", [A_GUID, A_GUID.upper(), A_GUID.replace("-", "")])
def test_a_guid_folder_becomes_guid_in_either_case_and_with_or_without_dashes(guid: str) -> None:
    assert RULES.group(f"raw/runs/{guid}/out.csv") == "raw/runs/{GUID}/out.csv"


def test_spark_output_becomes_spark_partitions() -> None:
    part = f"part-00000-{A_GUID}-c000.snappy.parquet"
    output = "sample-data/name-of-spark-output"
    assert RULES.group(f"{output}/{part}") == f"{output}/{{SparkPartitions}}"
    assert RULES.group(f"lake/sales/year=2021/month=01/{part}") == "lake/sales/{SparkPartitions}"
    assert RULES.group("lake/legacy/part-r-00003") == "lake/legacy/{SparkPartitions}"


def test_folders_above_spark_output_are_still_grouped() -> None:
    part = f"part-00007-tid-1234-{A_GUID}-5-1-c000.snappy.parquet"
    assert RULES.group(f"lake/2021/01/12/sales/region=eu/{part}") == "lake/{Year}/{Month}/{Day}/sales/{SparkPartitions}"


def test_hive_style_folders_without_a_spark_part_file_keep_their_keys() -> None:
    assert RULES.group("lake/sales/year=2021/month=01/data.csv") == "lake/sales/year={N}/month={N}/data.csv"
    assert RULES.group("lake/sales/date=2021-01-12/data.csv") == "lake/sales/date={Year}-{Month}-{Day}/data.csv"


def test_year_month_day_folders_become_year_month_day_and_an_hour_below_them_a_number() -> None:
    assert RULES.group("logs/2021/01/12/events.json") == "logs/{Year}/{Month}/{Day}/events.json"
    assert RULES.group("logs/2021/01/12/13/events.json") == "logs/{Year}/{Month}/{Day}/{N}/events.json"
    assert RULES.group("logs/2021/13/12/events.json") == "logs/{N}/{N}/{N}/events.json"  # no month 13
    assert RULES.group("logs/2021/01/12.json") == "logs/{N}/{N}/{N}.json"  # a day is a folder, not a file


@pytest.mark.parametrize(("original", "expected"), [
    ("a/events_2021-01-12T10-30-00Z.json", "a/events_{Year}-{Month}-{Day}T{Hour}-{Minute}-{Second}Z.json"),
    ("a/events_20210112T103000Z.json", "a/events_{Year}{Month}{Day}T{Hour}{Minute}{Second}Z.json"),
    ("a/events_2021-01-12T10.json", "a/events_{Year}-{Month}-{Day}T{Hour}.json"),
    ("a/events_2021-01-12Z.json", "a/events_{Year}-{Month}-{Day}Z.json"),  # $6 is the Z
    ("a/events_2021-01-12-10Z.json", "a/events_{Year}-{Month}-{Day}-{Hour}Z.json"),
    ("a/events@2021.01.12.json", "a/events@{Year}.{Month}.{Day}.json"),
])
def test_dates_and_times_keep_their_separators_and_the_dollar_groups_fill_them_in(original: str,
                                                                                   expected: str) -> None:
    assert RULES.group(original) == expected


def test_a_plain_file_is_not_part_of_a_resource_set() -> None:
    assert RULES.group("sales/customers.csv") is None
    assert RULES.group("sales/eu/customers.csv") is None


@pytest.mark.parametrize("path", ["reports/2026/q1.xlsx", "reports/2026/q1.XLSX", "reports/2026/q1.docx",
                                  "reports/2026/q1.pdf", "reports/2026/q1.pptx", "reports/2026/q1.xls"])
def test_office_documents_and_pdf_are_never_grouped(path: str) -> None:
    assert RULES.group(path) is None


def test_csv_is_grouped_where_a_document_would_not_be() -> None:
    assert RULES.group("reports/2026/q1.csv") == "reports/{N}/q{N}.csv"


def test_a_version_number_is_kept() -> None:
    assert RULES.group("lib/tool_v1.2.3.json") is None
    assert RULES.group("lib/23/tool_v1.2.3.json") == "lib/{N}/tool_v1.2.3.json"
    assert RULES.group("api/v2/data.json") is None  # the 2 of a v2 folder is no number between delimiters


def test_the_2_of_b2b_is_kept() -> None:
    assert RULES.group("sales/b2b_orders.csv") is None
    assert RULES.group("sales/b2b_orders_7.csv") == "sales/b2b_orders_{N}.csv"


def test_number_in_file_applies_to_the_file_name_only() -> None:
    assert RULES.group("sales/batch7/orders.csv") is None
    assert RULES.group("sales/batch/orders7.csv") == "sales/batch/orders{N}.csv"


def test_localization_is_tried_only_where_the_locale_is_all_the_letters() -> None:
    # maxLetters 4 read as a pre-filter: "en-us" alone is a locale, "site_en-us" is a name.
    assert RULES.group("docs/en-us/readme.md") == "docs/{LOC}/readme.md"
    assert RULES.group("docs/site_en-us/1.json") == "docs/site_en-us/{N}.json"


def test_an_eight_digit_hex_folder_becomes_hex() -> None:
    assert RULES.group("builds/deadbeef/log.txt") == "builds/{HEX}/log.txt"


def test_the_container_is_never_rewritten() -> None:
    assert RULES.group("2021/data/1.csv") == "2021/data/{N}.csv"
    assert RULES.group(f"{A_GUID}/x.csv") is None
    assert RULES.group("en-us/x.csv") is None


def test_literal_braces_stay_encoded_and_tokens_stay_raw() -> None:
    assert RULES.group("a/%7Bx%7D/1.csv") == "a/%7Bx%7D/{N}.csv"
    assert RULES.group("a/{x}/1.csv") == "a/%7Bx%7D/{N}.csv"  # raw braces are encoded as the naming code does
    assert RULES.group("a/b/%7B7%7D.csv") == "a/b/%7B{N}%7D.csv"  # the 7 of %7B is no number
    assert RULES.group("a/%7Bx%7D/y.csv") is None


def test_empty_segments_are_dropped() -> None:
    assert RULES.group("/mycontainer//machinesets/23/foo.parquet") == "mycontainer/machinesets/{N}/foo.parquet"


@pytest.mark.parametrize("path", ["", "container", "container/", "a/" + "b" * resource_sets.MAX_PATH_CHARS,
                                  "a" + "/b" * (resource_sets.MAX_SEGMENTS + 1)])
def test_paths_without_a_file_or_longer_than_a_store_allows_are_not_grouped(path: str) -> None:
    assert RULES.group(path) is None


# ------------------------------------------------------------------------------------------ the configuration's flags


def test_tokens_inserted_are_never_matched_again() -> None:
    rules = ResourceSetRules.from_config(config(
        replacer("Date", r"(20)\d\d-(\d\d)", "{Year}-{Month}"),
        replacer("Word", r"Year|Month|\d", "#", condition="ApplyToFileName"),
    ))
    assert rules.group("a/b/Year_2021-01.csv") == "a/b/#_{Year}-{Month}.csv"


def test_disable_recursive_replacer_application_stops_later_replacers_on_that_segment() -> None:
    first = replacer("First", r"^(\d+)x$", "{N}x", disableRecursiveReplacerApplication=True)
    second = replacer("Second", r"x$", "{X}")
    assert ResourceSetRules.from_config(config(first, second)).group("a/12x/f") == "a/{N}x/f"
    first["disableRecursiveReplacerApplication"] = False
    assert ResourceSetRules.from_config(config(first, second)).group("a/12x/f") == "a/{N}{X}/f"
    assert ResourceSetRules.from_config(config(first, second)).group("a/x/f") == "a/{X}/f"


def test_do_not_replace_protects_what_it_matches() -> None:
    guarded = replacer("Digit", r"\d", "#", doNotReplaceRegex={"regexStr": r"keep\d", "options": 8})
    assert ResourceSetRules.from_config(config(guarded)).group("a/keep1_2/f") == "a/keep1_#/f"


def test_min_and_max_counts_are_pre_filters_on_the_segment() -> None:
    two_digits = replacer("Digit", r"\d", "#")
    two_digits["regex"]["minDigits"] = 2
    rules = ResourceSetRules.from_config(config(two_digits))
    assert rules.group("a/x1/f") is None
    assert rules.group("a/x12/f") == "a/x##/f"
    few_letters = replacer("Short", r"^[a-z]+\d$", "{S}")
    few_letters["regex"]["maxLetters"] = 3
    rules = ResourceSetRules.from_config(config(few_letters))
    assert rules.group("a/abc1/f") == "a/{S}/f"
    assert rules.group("a/abcd1/f") is None


def test_dotnet_options_and_replacement_syntax_are_honoured() -> None:
    ignore_case = replacer("Case", r"abc", "{A}")
    ignore_case["regex"]["options"] = 9  # IgnoreCase | Compiled
    assert ResourceSetRules.from_config(config(ignore_case)).group("a/xABCx/f") == "a/x{A}x/f"
    case_sensitive = replacer("Case", r"abc", "{A}")
    assert ResourceSetRules.from_config(config(case_sensitive)).group("a/xABCx/f") is None
    dollars = replacer("Dollars", r"(\d)(\d)", "$2$1$$$3${1}$&")  # $3 names no group: literal, as in .NET
    assert ResourceSetRules.from_config(config(dollars)).group("a/x12/f") == "a/x21$$3112/f"
    named = replacer("Named", r"(?<year>\d{4})-(\d\d)", "$1.$2.${year}")  # .NET numbers unnamed groups first
    assert ResourceSetRules.from_config(config(named)).group("a/2021-07/f") == "a/07.2021.2021/f"


def test_a_disabled_replacer_or_grouping_turned_off_groups_nothing() -> None:
    off = replacer("Number", r"^\d+$", "{N}", disabled=True)
    assert ResourceSetRules.from_config(config(off)).group("a/23/f") is None
    on = replacer("Number", r"^\d+$", "{N}")
    assert ResourceSetRules.from_config(config(on)).group("a/23/f") == "a/{N}/f"
    assert ResourceSetRules.from_config(config(on, enableDefaultPatterns=False)).group("a/23/f") is None


def test_rejected_and_accepted_patterns_decide_which_paths_are_grouped() -> None:
    number = replacer("Number", r"^\d+$", "{N}")
    rejected = ResourceSetRules.from_config(config(number, rejectedPatterns=[
        {"name": "raw", "path": "raw/*", "filterType": "Pattern"},
        {"name": "tmp", "path": r"/tmp\d*/", "filterType": "Regex"}]))
    assert rejected.group("raw/23/f") is None
    assert rejected.group("lake/tmp1/23/f") is None
    assert rejected.group("lake/23/f") == "lake/{N}/f"
    accepted = ResourceSetRules.from_config(config(number, acceptedPatterns=[{"name": "lake", "path": "lake/*"}]))
    assert accepted.group("lake/23/f") == "lake/{N}/f"
    assert accepted.group("raw/23/f") is None


def test_complex_replacers_can_be_disabled_by_the_config(shared_dir: Path) -> None:
    doc = default_document(shared_dir)
    for item in doc["pathPatternConfig"]["complexReplacers"]:
        item["disabled"] = True
    rules = ResourceSetRules.from_config(doc)
    assert rules.group("logs/2021/01/12/events.json") == "logs/{N}/{N}/{N}/events.json"
    assert rules.group("lake/out/part-00000-x.c000.csv") == "lake/out/part-{N}-x.c{N}.csv"


def test_a_catastrophic_regex_gives_up_on_the_name_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource_sets, "REGEX_TIMEOUT_SECONDS", 0.05)
    rules = ResourceSetRules.from_config(config(replacer("Bad", r"(a|aa)+$", "{A}")))
    started = time.monotonic()
    assert rules.group("c/" + "a" * 60 + "!/f") is None
    assert time.monotonic() - started < 5
    with pytest.raises(ResourceSetConfigError, match="took longer"):
        ResourceSetRules.from_config({"pathPatternConfig": {"normalizationRules": [
            {"name": "Bad", "entityTypes": ["t"], "regex": {"regexStr": r"(a|aa)+$"}, "replaceWith": "x"}]}}
        ).normalize("t", "a" * 60 + "!")


def test_each_distinct_segment_is_worked_out_once() -> None:
    rules = ResourceSetRules.from_config(config(replacer("Number", r"^\d+$", "{N}")))
    paths = [f"lake/sales/{day}/part{n}.csv" for day in range(30) for n in range(200)]
    started = time.monotonic()
    grouped = {rules.group(p) for p in paths}
    assert grouped == {f"lake/sales/{{N}}/part{n}.csv" for n in range(200)}
    assert len(rules._segments) == 30 + 1 + 200  # each day folder, "sales", each file name
    assert time.monotonic() - started < 10


def test_the_default_rules_group_thousands_of_files_quickly() -> None:
    rules = ResourceSetRules.default()
    paths = [f"bing/data/{n % 50}/QueriesByState_2021-01-{1 + n % 28:02d}_10-30-{n % 60:02d}.tsv" for n in range(5_000)]
    started = time.monotonic()
    assert {rules.group(p) for p in paths} == {"bing/data/{N}/QueriesByState_{Year}-{Month}-{Day}_{N}-{N}-{N}.tsv"}
    assert time.monotonic() - started < 10


# ------------------------------------------------------------------------------------------ loading a configuration


def test_the_built_in_default_is_the_2022_default_configuration(shared_dir: Path) -> None:
    loaded = ResourceSetRules.load(shared_dir / VENDORED)
    default = ResourceSetRules.default()
    assert default.differences(loaded) == []
    assert loaded.differences(default) == []
    assert loaded == default
    assert [r.name for r in loaded.regex_replacers] == [r.name for r in default.regex_replacers]
    assert [(r.name, r.entity_types) for r in loaded.normalization_rules] == [
        (r.name, r.entity_types) for r in default.normalization_rules]
    assert loaded.summary() == default.summary()


def test_a_changed_live_configuration_is_told_line_by_line(shared_dir: Path) -> None:
    doc = default_document(shared_dir)
    config_ = doc["pathPatternConfig"]
    config_["regexReplacers"][1]["regex"]["regexStr"] = r"^\d{1,4}$"
    config_["regexReplacers"].append(replacer("Week", r"^w\d\d$", "{W}"))
    del config_["regexReplacers"][0]
    config_["complexReplacers"][0]["disabled"] = True
    config_["normalizationRules"][3]["entityTypes"].append("azure_file_directory")
    config_["rejectedPatterns"] = [{"name": "tmp", "path": "tmp/*"}]
    live = ResourceSetRules.from_config(doc)
    lines = RULES.differences(live)
    assert "regex replacer 'Guid' only here" in lines
    assert "regex replacer 'Week' only in the other" in lines
    assert "regex replacer 'Number': regex {'minDigits': 1, 'options': 8, 'regexStr': '^\\\\d+$'} here, " \
           "{'minDigits': 1, 'options': 8, 'regexStr': '^\\\\d{1,4}$'} in the other" in lines
    assert "complex replacer 'SparkPath': disabled False here, True in the other" in lines
    assert ("normalization rule 'Lowercase File Extension': the other adds entity types ['azure_file_directory'] "
            "and drops []") in lines
    assert any(line.startswith("rejectedPatterns:") for line in lines)
    assert len(lines) == 6
    assert RULES.summary()["fingerprint"] != live.summary()["fingerprint"]
    assert live.summary()["complexReplacers"] == ["SparkPath (disabled)", "Date(yyyy/mm/dd)InPath"]
    json.dumps(live.summary())


def test_replacers_in_another_order_are_a_difference() -> None:
    a, b = replacer("A", "a", "{A}"), replacer("B", "b", "{B}")
    lines = ResourceSetRules.from_config(config(a, b)).differences(ResourceSetRules.from_config(config(b, a)))
    assert lines == ["regex replacers run in another order: ['A', 'B'] here, ['B', 'A'] in the other"]


def test_a_repeated_replacer_name_hides_no_difference() -> None:
    a, a2 = replacer("A", "a", "{A}"), replacer("A", "x", "{X}")
    lines = ResourceSetRules.from_config(config(a)).differences(ResourceSetRules.from_config(config(a, a2)))
    assert lines == ["regex replacer 'A #2' only in the other"]


def mutate(path: str, value: Any) -> dict[str, Any]:
    lower = {"name": "Lower", "dynamicReplacement": True, "entityTypes": ["t"], "regex": {"regexStr": "x"},
             "replaceWith": "ToLowerCase"}
    spark = {"name": "SparkPath", "typeName": resource_sets.SPARK_PATH_TYPE}
    doc = config(replacer("Number", r"^\d+$", "{N}"), normalizationRules=[lower], complexReplacers=[spark])
    *parents, last = path.split(".")
    target: Any = doc
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is KeyError:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize(("path", "value", "message"), [
    ("pathPatternConfig", None, "pathPatternConfig is missing"),
    ("pathPatternConfig.regexReplacers", {}, r"pathPatternConfig.regexReplacers must be a list"),
    ("pathPatternConfig.regexReplacers.0", "Number", r"regexReplacers\[0\] must be an object"),
    ("pathPatternConfig.regexReplacers.0.regex", KeyError, r"regexReplacers\[0\].regex must be an object"),
    ("pathPatternConfig.regexReplacers.0.regex.regexStr", 5, r"regexReplacers\[0\].regex.regexStr must be a string"),
    ("pathPatternConfig.regexReplacers.0.regex.regexStr", "(", r"regexReplacers\[0\].regex: regex '\(' does not"),
    ("pathPatternConfig.regexReplacers.0.regex.options", 64, r"regexReplacers\[0\].regex: regex option 64"),
    ("pathPatternConfig.regexReplacers.0.regex.options", "8", r"regexReplacers\[0\].regex.options must be"),
    ("pathPatternConfig.regexReplacers.0.regex.minVowels", 1, r"regexReplacers\[0\].regex.minVowels is not"),
    ("pathPatternConfig.regexReplacers.0.regex.minDigits", -1, r"regexReplacers\[0\].regex.minDigits must be"),
    ("pathPatternConfig.regexReplacers.0.replaceWith", KeyError, r"regexReplacers\[0\].replaceWith must be"),
    ("pathPatternConfig.regexReplacers.0.name", None, r"regexReplacers\[0\].name must be a string"),
    ("pathPatternConfig.regexReplacers.0.disabled", "no", r"regexReplacers\[0\].disabled must be true or false"),
    ("pathPatternConfig.regexReplacers.0.condition", "ApplyToFolders", r"regexReplacers\[0\].condition"),
    ("pathPatternConfig.complexReplacers.0.typeName", "Other", r"complexReplacers\[0\].typeName 'Other'"),
    ("pathPatternConfig.normalizationRules.0.replaceWith", "ToUpperCase", r"normalizationRules\[0\].replaceWith"),
    ("pathPatternConfig.normalizationRules.0.entityTypes", "t", r"normalizationRules\[0\].entityTypes must be"),
    ("pathPatternConfig.enableDefaultPatterns", "yes", r"pathPatternConfig.enableDefaultPatterns must be"),
    ("pathPatternConfig.rejectedPatterns", [{"path": "x", "filterType": "Glob"}], r"rejectedPatterns\[0\].filterT"),
    ("pathPatternConfig.scopedRules", [{"bindingUrl": "https://a", "storeType": "x", "rules": [{}]}],
     r"scopedRules\[0\].rules\[0\].qualifiedName must be a string"),
])
def test_a_configuration_of_the_wrong_shape_is_refused_naming_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(ResourceSetConfigError, match=message):
        ResourceSetRules.from_config(mutate(path, value))


def test_a_document_that_is_no_object_is_refused() -> None:
    with pytest.raises(ResourceSetConfigError, match="JSON object"):
        ResourceSetRules.from_config([])  # type: ignore[arg-type]  # what a JSON file may hold


def test_load_refuses_a_missing_or_broken_file_with_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ResourceSetConfigError, match="cannot read"):
        ResourceSetRules.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ResourceSetConfigError, match="cannot read"):
        ResourceSetRules.load(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(config(replacer("N", "(", "x"))), encoding="utf-8")
    with pytest.raises(ResourceSetConfigError, match=r"wrong.json: pathPatternConfig.regexReplacers\[0\]"):
        ResourceSetRules.load(wrong)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(config(replacer("N", r"^\d+$", "{N}"))), encoding="utf-8")
    assert ResourceSetRules.load(good).group("a/1/f") == "a/{N}/f"


def test_scoped_pattern_rules_are_read_and_counted_but_not_applied() -> None:
    scoped = [{"bindingUrl": "https://acct.blob.core.windows.net/bar", "storeType": "AzureBlob",
               "rules": [{"qualifiedName": "raw/{id:int}.csv", "isResourceSet": True}]}]
    rules = ResourceSetRules.from_config(config(replacer("N", r"^\d+$", "{N}"), scopedRules=scoped))
    assert rules.summary()["scopedRules"] == 1
    assert rules.group("bar/raw/7.csv") is None
    assert any(line.startswith("scopedRules:") for line in RULES.differences(rules))


def test_the_default_document_loads_whatever_its_metadata(shared_dir: Path) -> None:
    doc = copy.deepcopy(default_document(shared_dir))
    doc["pathPatternConfig"]["lastUpdatedTimestamp"] = 1
    doc["pathPatternConfig"]["regexReplacers"][0]["modifiedBy"] = "someone"
    doc["advancedResourceSet"]["resourceSetProcessing"] = "Advanced"
    assert ResourceSetRules.from_config(doc) == RULES


# ------------------------------------------------------------------------------------------ normalization

def rule(name: str) -> resource_sets.NormalizationRule:
    return next(r for r in RULES.normalization_rules if r.name == name)


@pytest.mark.parametrize(("name", "original", "expected"), [
    # Trim leading and trailing spaces for all parts of the qualified name.
    ("Trim Section Spaces", " https://a.blob.core.windows.net/c / my file .csv ",
     "https://a.blob.core.windows.net/c/my file.csv"),
    ("Trim Section Spaces", "mssql://s.database.windows.net/ db /dbo/ T ", "mssql://s.database.windows.net/db/dbo/T"),
    # Remove all spaces from the hostname.
    ("Remove Hostname Spaces", "https://my acct.blob.core.windows.net/c/a b.csv",
     "https://myacct.blob.core.windows.net/c/a b.csv"),
    # Remove square brackets from the path and encode the space between them.
    ("Remove Square Brackets", "mssql://s.database.windows.net/db/[dbo]/[Order Details]",
     "mssql://s.database.windows.net/db/dbo/Order%20Details"),
    # Lowercase the file extension, if present (2-5 characters after the last dot).
    ("Lowercase File Extension", "https://a.blob.core.windows.net/c/Data.CSV", "https://a.blob.core.windows.net/c/Data.csv"),
    ("Lowercase File Extension", "https://a.blob.core.windows.net/c/archive.TAR.GZ",
     "https://a.blob.core.windows.net/c/archive.TAR.gz"),
    ("Lowercase File Extension", "https://a.blob.core.windows.net/c/x.Parquet1", "https://a.blob.core.windows.net/c/x.Parquet1"),
    # Lower case the hostname.
    ("Lowercase hostname", "https://MyAcct.Blob.Core.Windows.Net/Container/Path",
     "https://myacct.blob.core.windows.net/Container/Path"),
    ("Lowercase hostname", "mssql://SRV.database.windows.net:1433/DB", "mssql://srv.database.windows.net:1433/DB"),
    # Lower case the scheme.
    ("Lowercase scheme", "HTTPS://a/B", "https://a/B"),
    ("Lowercase scheme", "S3://Bucket/Key", "s3://Bucket/Key"),
    # Remove double slashes that do not follow a colon.
    ("Remove double slash", "https://a.blob.core.windows.net//c///d", "https://a.blob.core.windows.net/c/d"),
    # Lowercase the subscription, resource group, provider, factory, pipeline and activity names.
    ("Lower case ADF Data", "/subscriptions/ABC/resourceGroups/RG-1/providers/Microsoft.DataFactory/factories/MyADF"
     "/pipelines/P1/activities/Copy1", "/subscriptions/abc/resourceGroups/rg-1/providers/microsoft.datafactory"
     "/factories/myadf/pipelines/p1/activities/copy1"),
    # An ADLS Gen1 asset using http or https gets the adl:// scheme.
    ("Convert ADLSGen1 to adl scheme", "https://acct.azuredatalakestore.net/a", "adl://acct.azuredatalakestore.net/a"),
    ("Convert ADLSGen1 to adl scheme", "http://acct.azuredatalakestore.net/a", "adl://acct.azuredatalakestore.net/a"),
])
def test_each_normalization_rule_does_what_its_description_says(name: str, original: str, expected: str) -> None:
    assert rule(name).apply(original) == expected


def test_normalize_applies_the_rules_of_the_type_in_order() -> None:
    assert RULES.normalize("azure_blob_path", " HTTPS://MyAcct.Blob.Core.Windows.Net//Container/ Folder /File.CSV ") \
        == "https://myacct.blob.core.windows.net/Container/Folder/File.csv"
    assert RULES.normalize("azure_sql_table", "MSSQL://SRV.database.windows.net/Sales/[dbo]/[Order Details]") \
        == "mssql://srv.database.windows.net/Sales/dbo/Order%20Details"
    assert RULES.normalize("azure_datalake_gen1_path", "HTTPS://Acct.AzureDataLakeStore.net/Folder/x.CSV") \
        == "adl://acct.azuredatalakestore.net/Folder/x.csv"


def test_normalize_leaves_what_the_rules_of_a_type_do_not_cover() -> None:
    assert RULES.normalize("azure_blob_path", "https://a.blob.core.windows.net/c/[x y]") \
        == "https://a.blob.core.windows.net/c/[x y]"  # brackets are a SQL rule
    assert RULES.normalize("azure_sql_table", "mssql://s/db/dbo/T.CSV") == "mssql://s/db/dbo/T.CSV"
    assert RULES.normalize("snowflake_table", " SNOWFLAKE://X ") == " SNOWFLAKE://X "  # no rule names the type


# ------------------------------------------------------------------------------------------ properties

SEGMENTS = ["2021", "01", "12", "23", "en_au", "de-CH", A_GUID, "deadbeef", "v1.2.3", "b2b", "year=2021",
            "part-00000-x.snappy.parquet", "%7Bx%7D", "{x}", "a.csv", "q1.xlsx", "", " ", "@", "=", "_", "x" * 40]
path_text = (st.lists(st.sampled_from(SEGMENTS), max_size=8).map("/".join)
             | st.text(st.characters(exclude_categories=()), max_size=60)
             | st.text(alphabet="/0123456789-_.=@{}%7BDvTZab", max_size=60))


@given(path_text)
@example(f"c/2021/01/12/year=2021/part-00000-{A_GUID}.c000.csv")
@example("c/{N}/x")
def test_grouping_never_raises_and_keeps_one_segment_per_segment_unless_spark_output_collapses(path: str) -> None:
    grouped = RULES.group(path)
    if grouped is None:
        return
    before = [s for s in path.split("/") if s]
    after = grouped.split("/")
    assert after[0] == before[0].replace("{", "%7B").replace("}", "%7D")
    if after[-1] == "{SparkPartitions}":
        assert len(after) <= len(before)
    else:
        assert len(after) == len(before)
        for old, new in zip(before, after, strict=True):
            literal = old.replace("{", "%7B").replace("}", "%7D")
            assert new == literal or "{" in new  # a segment changes only by gaining tokens
    assert RULES.group(grouped) is None  # a resource set's own path groups to nothing more


@given(st.text(st.characters(exclude_categories=()), max_size=80), st.sampled_from(
    ["azure_blob_path", "azure_sql_table", "adf_copy_operation", "azure_datalake_gen1_path", "other"]))
def test_normalization_never_raises(name: str, type_name: str) -> None:
    assert isinstance(RULES.normalize(type_name, name), str)
