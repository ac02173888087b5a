/**
 * Command-line flags of `deno task bench`.
 *
 * @module
 */
import { ConfigError } from "../core/errors.ts";

/** What one bench invocation was asked to do. */
export interface BenchArgs {
  /** Fewer cases and repeats, small widths: finishes in under 2 minutes. */
  quick: boolean;
  /** Backend names to run, or undefined for every registered backend but auto. */
  backends?: string[];
  /** Folder the JSON and Markdown results go to. */
  out: string;
  /** File name stem of the results (`<name>.json`, `<name>.md`). */
  name: string;
  /** Run the PyTorch reference when /usr/bin/python3 has torch. */
  torch: boolean;
  /** A case whose warm-up step takes longer than this is skipped. */
  maxStepSeconds: number;
  /** Print the usage and exit. */
  help: boolean;
}

/** The usage text of `deno task bench`. */
export const USAGE =
  `usage: deno task bench [--quick] [--backends a,b] [--out DIR] [--name NAME]
                       [--no-torch] [--max-step-seconds S]
  --quick               fewer cases and repeats at small widths (< 2 minutes)
  --backends a,b        only these registered backends (default: all but auto)
  --out DIR             where results go (default: bench/results)
  --name NAME           results file stem (default: latest, or quick)
  --no-torch            skip the PyTorch reference
  --max-step-seconds S  skip a case whose warm-up step takes longer (default: 60)`;

function valueOf(flag: string, argv: string[], i: number): string {
  const v = argv[i + 1];
  if (v === undefined || v.startsWith("--")) {
    throw new ConfigError(`Flag ${flag} needs a value; see --help`);
  }
  return v;
}

/** Parses the bench flags; throws a one-line ConfigError on a bad flag. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = {
    quick: false,
    out: "bench/results",
    name: "",
    torch: true,
    maxStepSeconds: 60,
    help: false,
  };
  const list = [...argv];
  for (let i = 0; i < list.length; i++) {
    let flag = list[i];
    const eq = flag.indexOf("=");
    if (flag.startsWith("--") && eq > 0) {
      list.splice(i, 1, flag.slice(0, eq), flag.slice(eq + 1));
      flag = list[i];
    }
    switch (flag) {
      case "--quick":
        args.quick = true;
        break;
      case "--no-torch":
        args.torch = false;
        break;
      case "--help":
      case "-h":
        args.help = true;
        break;
      case "--backends": {
        const names = valueOf(flag, list, i++).split(",").map((s) => s.trim())
          .filter((s) => s !== "");
        if (names.length === 0) {
          throw new ConfigError(
            `Flag --backends is empty; give names such as --backends native,wasm`,
          );
        }
        args.backends = names;
        break;
      }
      case "--out":
        args.out = valueOf(flag, list, i++);
        break;
      case "--name": {
        const name = valueOf(flag, list, i++);
        if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
          throw new ConfigError(
            `Flag --name is ${
              JSON.stringify(name)
            }; expected letters, digits, ".", "_" or "-"`,
          );
        }
        args.name = name;
        break;
      }
      case "--max-step-seconds": {
        const raw = valueOf(flag, list, i++);
        const v = Number(raw);
        if (!Number.isFinite(v) || v <= 0) {
          throw new ConfigError(
            `Flag --max-step-seconds is ${
              JSON.stringify(raw)
            }; expected a positive number of seconds`,
          );
        }
        args.maxStepSeconds = v;
        break;
      }
      default:
        throw new ConfigError(
          `Unknown flag ${
            JSON.stringify(flag)
          }: expected --quick, --backends, --out, --name, --no-torch, --max-step-seconds or --help`,
        );
    }
  }
  if (args.name === "") args.name = args.quick ? "quick" : "latest";
  return args;
}
