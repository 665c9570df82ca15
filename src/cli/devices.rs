//! `pegasus devices`: every adapter, its limits and features, and which one is chosen.

use crate::gpu::{AdapterChoice, Gpu, describe};

pub fn run(choice: &AdapterChoice) -> anyhow::Result<()> {
    let (adapters, chosen) = Gpu::list_adapters(choice);
    let chosen = chosen?;
    for (i, adapter) in adapters.iter().enumerate() {
        let mark = if i == chosen { '*' } else { ' ' };
        println!("{mark} {i}: {}", describe(adapter));
    }
    println!(
        "\n* = used by pegasus ({}); choose another with --adapter or PEGASUS_ADAPTER",
        choice.from
    );
    Ok(())
}
