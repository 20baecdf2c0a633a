set -euo pipefail
cd /work/main
. .venv/bin/activate; source scripts/env.sh
for n in ref10_a ref10_b ref5_a ref5_b; do
  if [ ! -f runs/errorhead_$n/model_step1500.safetensors ]; then
    if [[ $n == ref5* ]]; then while [ ! -f data_cache/7scenes_ref5/quality.json ]; do sleep 20; done; fi
    perfecting-depth train errorhead --config config/train/errorhead_$n.yaml
  fi
done
mkdir -p runs/head_soup
for arm in ref10 ref5; do
  python scripts/average_heads.py runs/head_soup/$arm.safetensors \
    runs/errorhead_${arm}_a/model_step1500.safetensors runs/errorhead_${arm}_b/model_step1500.safetensors
  perfecting-depth manifest runs/head_soup/$arm.safetensors
done
S=perfecting_depth_ros/weights/perfecting_depth.safetensors C=runs/head_soup/ref10.safetensors T=runs/head_soup/ref5.safetensors
for m in S C T; do
  for r in 7scenes_ref 7scenes_ref5; do
    out=outputs/h53_${m}_${r}.json
    [ -s $out ] || PYTHONPATH=scripts python scripts/probe_real_wrong.py ${!m} --fusion off --every 1 --ref data_cache/$r --json $out > /dev/null
  done
done
for m in S C T; do
  for w in 1 2; do
    out=outputs/h53_${m}_v$w.jsonl
    [ -s $out ] || { PYTHONPATH=scripts python scripts/validate_gap.py ${!m} --fusion=off --sets=26,27 --world-version $w > $out.part && mv $out.part $out; }
  done
done
echo ALLDONE
