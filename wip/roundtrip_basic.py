import numpy as np, pandas as pd
from lifelines.datasets import load_gbsg2, load_rossi, load_waltons
from lifelines import KaplanMeierFitter, CoxPHFitter
from nen_bayes.reconstruct import reconstruct_arm

def corners(time, event):
    km = KaplanMeierFitter().fit(time, event)
    sf = km.survival_function_.iloc[:,0]
    et = np.sort(np.unique(time[event==1]))
    t=[0.0]; s=[1.0]
    prev=1.0
    for tj in et:
        sj = float(sf.loc[tj])
        t += [tj, tj]; s += [prev, sj]; prev = sj
    return np.array(t), np.array(s), km

def at_risk(time, ts):
    return np.array([(time >= x).sum() for x in ts])

def trial(time, event, step, rng=None, noise=(0,0)):
    t,s,km = corners(time, event)
    if rng is not None:
        t = t + rng.normal(0, noise[0], len(t)); t[0]=0; t=np.clip(t,0,None)
        s = np.clip(s + rng.normal(0, noise[1], len(s)),0,1); s[0]=1
        o=np.argsort(t, kind='stable'); t=t[o]; s=s[o]
        s=np.minimum.accumulate(s)
    rt = np.arange(0, t.max(), step)
    rn = at_risk(time, rt)
    r = reconstruct_arm(t, s, rt, rn)
    return r.data, km

df = load_gbsg2()
for arm in ['no','yes']:
    sub = df[df.horTh==arm]
    time = sub.time.values.astype(float); ev = sub.cens.values.astype(int)
    rec, km = trial(time, ev, 250)
    km2 = KaplanMeierFitter().fit(rec.time, rec.event)
    grid = np.linspace(0, time.max(), 400)
    diff = np.abs(km.survival_function_at_times(grid).values - km2.survival_function_at_times(grid).values)
    print(arm, 'events', ev.sum(), rec.event.sum(), 'n', len(time), len(rec), 'maxdiff', diff.max().round(4), 'median', km.median_survival_time_, km2.median_survival_time_)
sub = df[df.horTh=='no']
time = sub.time.values.astype(float); ev = sub.cens.values.astype(int)
rec, km = trial(time, ev, 250)
km2 = KaplanMeierFitter().fit(rec.time, rec.event)
grid = np.linspace(0, time.max(), 400)
a=km.survival_function_at_times(grid).values; b=km2.survival_function_at_times(grid).values
k=np.argmax(np.abs(a-b)); print(grid[k], a[k], b[k], (time>=grid[k]).sum())
print(rec.tail(5)); print(sorted(time)[-5:], ev[np.argsort(time)][-5:])
