#!/usr/bin/env bash
# Every planted fault, 10 seeds each, at the default duration on 2 CPUs:
# each run must fail (exit 1). Prints one line per fault: caught N/10.
cd "$(dirname "$0")/.."
for f in no-gp short-gp early-qs flush-outside; do
  caught=0
  for seed in 1 2 3 4 5 6 7 8 9 10; do
    node bin/xdpsim.mjs torture --json --cpus 2 --seed "$seed" --inject "$f" > /dev/null 2>&1
    [ $? -eq 1 ] && caught=$((caught + 1))
  done
  echo "$f: caught $caught/10"
done
