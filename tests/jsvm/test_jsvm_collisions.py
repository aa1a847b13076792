"""The static scan behind `tykevents check`'s warning about globals two files both define."""

from __future__ import annotations

from tykevents.deliver.jsvm.collisions import find_global_collisions, top_level_names


def test_declarations_at_top_level_only():
    src = r"""
var a = 1, b = f(1, 2), c;
let d = 4
const e = {x: 1, y: function () { var notTop = 1; }};
function g(p) { var inner = 2; function nested() {} }
h = 3;
obj.prop = 4;
var i = function named() { return 1 }
if (a) { var j = 5; }   // var in a block: the scan does not look inside blocks
(function () { var k = 1; })();
x == y;
var s = "var fake = 1; function fake2() {}", r = /var re = 1/g, t = `var tmpl = ${1}`;
/* var commented = 1; */
// function commented2() {}
var l = a
    , m = 2;
z = a / 2 / 3; var n = 1
"""
    assert top_level_names(src) == {"a", "b", "c", "d", "e", "g", "h", "i", "l", "m", "s", "r", "t", "z", "n"}


def test_collisions_in_load_order(tmp_path):
    one = tmp_path / "one.js"
    two = tmp_path / "two.js"
    three = tmp_path / "three.js"
    one.write_text("var handler = 1;\nfunction helper() {}\nvar onlyOne = 1;\n")
    two.write_text("var handler = 2;\nvar helper = function () {};\n")
    three.write_text("handler = 3;\n")
    assert find_global_collisions([str(one), str(two), str(three), str(tmp_path / "missing.js")]) == [
        ("handler", str(one), str(two)),
        ("helper", str(one), str(two)),
        ("handler", str(two), str(three)),
    ]
    assert find_global_collisions([str(one), str(one)]) == []
