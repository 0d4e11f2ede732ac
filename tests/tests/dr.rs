//! The restore drill (`make dr-drill`) at a small size, in every test run: the runbook's
//! commands bring back every acknowledged order after the live table is deleted.

#[tokio::test]
async fn a_restore_from_backup_brings_back_every_acknowledged_order() {
    let report = system_tests::drill::run(6, |step| eprintln!("{step}")).await;
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.acknowledged, 6);
}
