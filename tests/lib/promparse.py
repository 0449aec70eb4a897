#!/usr/bin/python3
"""promparse.py FILE: parses a Prometheus text exposition with the reference Python client's parser
(Debian's python3-prometheus-client) and prints one line a sample: "name{labels} value". Exits 1,
with the parser's reason, when the text is not valid exposition format, or when a family is
declared twice, a histogram's buckets are not cumulative or lack +Inf, or a counter is negative."""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main(path):
    text = open(path, encoding="utf-8").read()
    seen = set()
    for fam in text_string_to_metric_families(text):
        if fam.name in seen:
            raise ValueError("family declared twice: " + fam.name)
        seen.add(fam.name)
        last = None
        for s in fam.samples:
            if fam.type == "counter" and s.value < 0:
                raise ValueError("negative counter: " + s.name)
            if fam.type == "histogram" and s.name.endswith("_bucket"):
                if last is not None and s.value < last:
                    raise ValueError("histogram buckets not cumulative: " + fam.name)
                last = s.value
            labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
            print("%s%s %g" % (s.name, "{" + labels + "}" if labels else "", s.value))
        if fam.type == "histogram" and not any(s.labels.get("le") == "+Inf" for s in fam.samples):
            raise ValueError("histogram without +Inf: " + fam.name)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Exception as e:  # the parser's ValueError and ours
        print("not valid Prometheus text: %s" % e, file=sys.stderr)
        sys.exit(1)
