use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    climate_tracker::cli::run().await
}
