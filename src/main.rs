// mimalloc instead of glibc's malloc: under load, glibc's arenas shared by the HTTP workers and the
// database threads showed in perf as lock traffic and consolidation (a sixth of a point read's CPU).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    roster::cli::main()
}
