"""Replace one function of an Erlang module with the clauses in a file, or fail.

    python3 splice_function.py MODULE.erl FUNCTION REPLACEMENT.erl

The function runs from the line that starts `FUNCTION(` to the next `%%---` separator
line; the source is the exact Debian release the image pins, so anything else found
there stops the build instead of patching the wrong code.
"""
import re
import sys
from pathlib import Path

module, function, replacement = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
source = module.read_text()
pattern = re.compile(rf"^{re.escape(function)}\(.*?(?=^%%-{{10,}})", re.S | re.M)
found = pattern.findall(source)
if len(found) != 1:
    sys.exit(f"{module}: expected one definition of {function} before a %%--- line, found {len(found)}")
module.write_text(pattern.sub(lambda _: replacement.read_text(), source, count=1))
