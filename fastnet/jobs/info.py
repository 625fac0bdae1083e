"""Print versions, threads, threading layer and CPU features."""


def add_arguments(parser):
    parser.add_argument("--threads", type=int, default=None, help="number of threads (default: all cores)")


def run(args):
    import fastnet
    if args.threads is not None:
        fastnet.set_num_threads(args.threads)
    print(fastnet.info())
    return 0
