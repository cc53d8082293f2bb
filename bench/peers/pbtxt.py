"""The protobuf text format, the subset framecast's configs use, for the Python peers in this folder
(the venv has no google.protobuf). Shared by every peer so that all read a config the same way."""
import re

_TOKEN = re.compile(r'\s+|#[^\n]*|"(?:[^"\\]|\\.)*"|[{}\[\]:,;<>]|[^\s{}\[\]:,;<>"#]+')


def parse_pbtxt(text):
    """Returns {field: [values]}; a message value is a nested dict, scalars stay strings."""
    toks = [t for t in _TOKEN.findall(text) if t.strip() and not t.startswith("#")]
    pos = 0

    def value(tok):
        if tok.startswith('"'):
            return bytes(tok[1:-1], "utf-8").decode("unicode_escape")
        return tok

    def message(end):
        nonlocal pos
        out = {}
        while pos < len(toks) and toks[pos] != end:
            name = toks[pos]
            pos += 1
            if toks[pos] == ":":
                pos += 1
            if toks[pos] in ("{", "<"):
                close = "}" if toks[pos] == "{" else ">"
                pos += 1
                v = [message(close)]
                pos += 1
            elif toks[pos] == "[":
                pos += 1
                v = []
                while toks[pos] != "]":
                    if toks[pos] == ",":
                        pos += 1
                        continue
                    if toks[pos] == "{":
                        pos += 1
                        v.append(message("}"))
                        pos += 1
                    else:
                        v.append(value(toks[pos]))
                        pos += 1
                pos += 1
            else:
                v = [value(toks[pos])]
                pos += 1
            if pos < len(toks) and toks[pos] in (",", ";"):
                pos += 1
            out.setdefault(name, []).extend(v)
        return out

    return message(None)


def get_field(msg, name, default=None):
    v = msg.get(name)
    return v[0] if v else default


def get_int(msg, name, default=0):
    """An integer field; a value written as a float ("8.0", "1e3") is accepted and truncated."""
    v = get_field(msg, name, default)
    try:
        return int(v)
    except ValueError:
        return int(float(v))


def get_float(msg, name, default=0.0):
    return float(get_field(msg, name, default))


def as_bool(v):
    return str(v).lower() in ("true", "1", "t")
