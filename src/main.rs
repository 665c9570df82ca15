fn main() -> std::process::ExitCode {
    pegasus::cli::run()
}
